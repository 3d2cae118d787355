"""model.py: members packed into one ECGCNN answer as their ensemble; folding BatchNorm changes no answer."""

import pytest
import torch

from model import ECGCNN, pack, unpack


def _members(n: int, **config) -> list[ECGCNN]:
    torch.manual_seed(0)
    members = [ECGCNN(**config) for _ in range(n)]
    for member in members:
        for layer in member.modules():
            if isinstance(layer, torch.nn.BatchNorm1d):
                layer.running_mean.normal_()
                layer.running_var.uniform_(0.5, 2.0)
        member.eval()
    return members


def _packed(n: int, **config) -> tuple[list[ECGCNN], ECGCNN]:
    """n members and the one ECGCNN they are packed into, both in eval mode."""
    members = _members(n, **config)
    packed = ECGCNN(members=n, **config)
    packed.load_state_dict(pack([m.state_dict() for m in members]))
    return members, packed.eval()


@pytest.mark.parametrize("config", [{"pooling": "flatten"}, {"pooling": "average"}, {"dilations": (1, 2, 2, 2)}])
def test_packed_members_give_the_mean_of_their_logits(config):
    members, packed = _packed(3, **config)
    x = torch.randn(16, 180)
    with torch.no_grad():
        expected = torch.stack([m(x) for m in members]).mean(dim=0)
        torch.testing.assert_close(packed(x), expected, atol=1e-5, rtol=1e-5)
        assert packed.embedding(x).shape == (16, 3 * 128)


def test_an_offset_added_to_the_bias_moves_every_members_logits_and_so_the_ensembles():
    members, packed = _packed(2)
    x = torch.randn(4, 180)
    offsets = torch.tensor([0.0, 1.0, -2.0, 0.5, 3.0])
    with torch.no_grad():
        before = packed(x)
        packed.add_to_bias(offsets)
        torch.testing.assert_close(packed(x), before + offsets)


def test_one_member_is_the_plain_network_whose_head_reads_the_flattened_last_block():
    model = ECGCNN()
    assert model.hidden[0].weight.shape == (128, 256, 180 // 16)
    assert model(torch.randn(2, 180)).shape == (2, 5)


def test_unpacking_gives_back_each_member():
    members, packed = _packed(2, pooling="average")
    x = torch.randn(3, 180)
    with torch.no_grad():
        for original, unpacked in zip(members, unpack(packed)):
            torch.testing.assert_close(unpacked(x), original(x))


@pytest.mark.parametrize("pooling", ["flatten", "average"])
def test_folding_batchnorm_keeps_every_answer_the_hidden_layer_and_what_unpacking_gives(pooling):
    members, packed = _packed(2, pooling=pooling)
    x = torch.randn(8, 180)
    with torch.no_grad():
        logits, hidden = packed(x), packed.embedding(x)
        folded = packed.fold_batchnorm()
        assert not any(isinstance(layer, torch.nn.BatchNorm1d) for layer in folded.modules())
        torch.testing.assert_close(folded(x), logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(folded.embedding(x), hidden, atol=1e-5, rtol=1e-5)
        for original, unpacked in zip(members, unpack(folded)):
            torch.testing.assert_close(unpacked(x), original(x), atol=1e-5, rtol=1e-5)


def test_a_dilated_block_reads_samples_further_apart_and_keeps_the_heads_input_length():
    torch.manual_seed(0)
    plain, dilated = ECGCNN().eval(), ECGCNN(dilations=(3, 2, 2, 2)).eval()
    impulse = torch.zeros(1, 1, 180)
    impulse[0, 0, 90] = 1.0
    with torch.no_grad():
        for network, span in ((plain, 7), (dilated, 3 * 6 + 1)):
            reached = torch.nonzero(network.features[0][0](impulse)[0].abs().sum(dim=0)).ravel()
            assert int(reached.max() - reached.min()) + 1 == span
        assert dilated.features(impulse).shape == plain.features(impulse).shape


def test_dilations_must_name_one_spacing_per_block():
    with pytest.raises(ValueError, match="one per block"):
        ECGCNN(dilations=(1, 2))
