"""Parsing, refusals, prediction and the safety of the weights loader."""

import json
import multiprocessing
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import inference
from ecg import typicality
from ecg.preprocessing import preprocess
from ecg.synthetic import synthetic_beat
from inference import InputError


def as_text(values, sep=", "):
    return sep.join(repr(float(v)) for v in values)


@pytest.mark.parametrize("separator", [",", ", ", " ", "\n", ";", "; ", "\t", ",\n"])
def test_any_usual_separator_is_accepted(beat, separator):
    np.testing.assert_allclose(inference.parse_beat(as_text(beat, separator)), beat)


def test_scientific_notation_signs_and_a_trailing_separator_are_accepted(beat):
    text = ", ".join(f"{v:+.6e}" for v in beat) + ",\n"
    np.testing.assert_allclose(inference.parse_beat(text), beat, rtol=1e-6)


@pytest.mark.parametrize("text, expected", [
    ("", "No samples given"),
    ("   \n ", "No samples given"),
    ("1, 2, abc, 4", "Value 3 is 'abc', which is not a number"),
    ("1, 2, 0x1F", "Value 3 is '0x1F'"),
    ("1, 2, 1_000", "Value 3 is '1_000'"),
    ("1, nan, 2", "Value 2 is 'nan', which is not a finite number"),
    ("1, -inf, 2", "Value 2 is '-inf', which is not a finite number"),
    ("1, 1e400, 2", "Value 2 is '1e400', too large to be a finite number"),
    (", ".join(["1"] * 179), "Found 179 numbers; a beat needs exactly 180"),
    (", ".join(["1"] * 181), "Found 181 numbers"),
    (", ".join(["0.5"] * 180), "The beat is flat"),
    (", ".join(["1e300"] * 179 + ["2e300"]), "beyond"),
    ("1, " * 10_000, "over the limit"),
])
def test_bad_input_is_refused_with_a_message_saying_what_is_wrong(text, expected):
    with pytest.raises(InputError, match=expected.replace("(", r"\(")):
        inference.parse_beat(text)


def _exit_refused(text: str) -> None:
    try:
        inference.parse_beat(text)
    except InputError as err:
        os._exit(0 if "which is not a number" in str(err) else 1)
    os._exit(2)


@pytest.mark.parametrize("text", ["1" * 19_999 + "x", "-1." + "5" * 19_990 + "e", "1.5 " * 4_999 + "x"])
def test_a_long_bad_paste_is_refused_at_once_not_after_seconds_of_matching(text):
    # The number pattern once let 20,000 digits and a letter keep a worker busy for 10 to 40 s, holding the GIL:
    # so the parse runs in a forked process, and the test waits 5 s at most.
    refusal = multiprocessing.get_context("fork").Process(target=_exit_refused, args=(text,))
    refusal.start()
    refusal.join(timeout=5)
    if refusal.is_alive():
        refusal.kill()
    assert refusal.exitcode == 0


def test_a_leading_separator_is_accepted(beat):
    np.testing.assert_allclose(inference.parse_beat(", " + as_text(beat)), beat)


def test_refusals_say_what_is_expected():
    with pytest.raises(InputError) as err:
        inference.parse_beat("hello")
    assert "180 numbers" in str(err.value) and "360 Hz" in str(err.value)


def test_probabilities_cover_five_classes_and_sum_to_one(beat):
    p = inference.predict_proba(np.stack([beat, synthetic_beat(qrs_width=12, seed=1)]))
    assert p.shape == (2, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    assert inference.predict_proba(beat).shape == (1, 5)
    assert inference.CLASSES == ("N", "L", "R", "V", "A")


def test_the_class_does_not_depend_on_the_units(beat):
    versions = np.stack([beat, beat * 200 + 1024, beat * 1000])
    p = inference.predict_proba(versions)
    assert len(set(p.argmax(axis=1))) == 1
    np.testing.assert_allclose(p, p[[0, 0, 0]], atol=1e-4)


def test_the_same_input_gives_the_same_probabilities_bit_for_bit(beat):
    assert np.array_equal(inference.predict_proba(beat), inference.predict_proba(beat))


def test_predict_proba_refuses_the_wrong_shape_and_non_finite_values(beat):
    with pytest.raises(InputError, match="shape"):
        inference.predict_proba(np.zeros((2, 179)))
    bad = beat.copy()
    bad[3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        inference.predict_proba(bad)


def test_explanation_gives_class_confidence_and_saliency(beat):
    result = inference.explain(beat)
    assert result.label in inference.CLASSES
    assert result.confidence == max(result.probabilities.values())
    assert result.saliency.shape == (180,)
    assert 0 <= result.saliency.min() and result.saliency.max() == pytest.approx(1.0), "scaled to its largest"
    assert result.aami_group in {"N", "S", "V"}


def test_a_pasted_beat_in_adc_counts_or_in_volts_is_a_waveform_not_a_flat_line(beat):
    """ADC counts sit all above zero (their spread under their largest value) and volts are about 1e-3: both are
    beats, answered as the same beat in mV is."""
    for version in (beat * 200 + 1024, beat * 1e-3, beat * 1e-6):
        parsed = inference.parse_beat(as_text(version))
        assert inference.explain(parsed).label == inference.explain(beat).label


def test_pasted_values_up_to_the_limit_are_accepted_and_beyond_it_refused(beat):
    at_limit = beat / np.abs(beat).max() * inference.MAX_ABS_VALUE
    np.testing.assert_allclose(inference.parse_beat(as_text(at_limit)), at_limit)
    with pytest.raises(InputError, match="beyond ±1e\\+09"):
        inference.parse_beat(as_text(at_limit * 1.001))


def test_no_beats_give_no_probabilities():
    assert inference.predict_proba(np.zeros((0, 180))).shape == (0, 5)


def test_explanation_says_how_often_its_call_was_right_on_patients_never_trained_on(beat):
    result = inference.explain(beat)
    measured = inference.shipped_model().metadata["cross_validation"]["confidence"]["all"]["per_call"]
    assert result.right_share == measured[result.label]["right"]


def test_weights_trained_before_the_measure_give_no_right_share():
    assert inference.right_share({"cross_validation": {}}, "N") is None


def test_shipped_weights_match_their_metadata():
    loaded = inference.shipped_model()
    meta = loaded.metadata
    assert meta["classes"] == list(inference.CLASSES)
    path = inference.WEIGHTS_DIR / meta["weights_file"]
    assert inference._sha256(path) == meta["weights_sha256"]
    assert sum(p.numel() for p in loaded.model.parameters()) > 100_000


@pytest.fixture
def weights_copy(tmp_path):
    for name in os.listdir(inference.WEIGHTS_DIR):
        shutil.copy(inference.WEIGHTS_DIR / name, tmp_path / name)
    return tmp_path


def rewrite_metadata(folder, **changes):
    path = folder / inference.METADATA_FILE
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_loader_refuses_weights_whose_checksum_does_not_match(weights_copy):
    path = weights_copy / "ecgcnn.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(inference.WeightsError, match="sha256"):
        inference.load_model(weights_copy)


def test_loader_refuses_metadata_for_other_classes(weights_copy):
    rewrite_metadata(weights_copy, classes=["N", "V", "L", "R", "A"])
    with pytest.raises(inference.WeightsError, match="classes"):
        inference.load_model(weights_copy)


def test_loader_refuses_weights_of_another_shape(weights_copy):
    from safetensors.torch import save_file

    from model import ECGCNN

    save_file(ECGCNN(kernel_size=3).state_dict(), str(weights_copy / "ecgcnn.safetensors"))
    rewrite_metadata(weights_copy, weights_sha256=inference._sha256(weights_copy / "ecgcnn.safetensors"))
    with pytest.raises(inference.WeightsError, match="does not fit"):
        inference.load_model(weights_copy)


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > exploit-ran.txt",))


def test_loader_refuses_a_malicious_pickle_and_never_runs_it(weights_copy, monkeypatch):
    monkeypatch.chdir(weights_copy)
    path = weights_copy / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state": Exploit()}, f)
    rewrite_metadata(weights_copy, weights_file="evil.pt", weights_sha256=inference._sha256(path))
    with pytest.raises(inference.WeightsError, match="not a safe weights file"):
        inference.load_model(weights_copy)
    assert not (weights_copy / "exploit-ran.txt").exists()


def test_loader_reads_a_plain_state_dict_saved_by_torch(weights_copy):
    state = load_file(str(weights_copy / "ecgcnn.safetensors"))
    torch.save(state, weights_copy / "plain.pt")
    rewrite_metadata(weights_copy, weights_file="plain.pt", weights_sha256=inference._sha256(weights_copy / "plain.pt"))
    loaded = inference.load_model(weights_copy)
    assert torch.equal(loaded.model.state_dict()["head.2.weight"], state["head.2.weight"])


def test_missing_weights_folder_gives_a_clear_message(tmp_path):
    with pytest.raises(inference.WeightsError, match="train a model"):
        inference.load_model(tmp_path)


@pytest.mark.parametrize("text, message", [
    (", ".join(["1"] * 179), "Found 179 numbers; a beat needs exactly 180 (0.5 s at 360 Hz, R-peak at sample 91). "
                             "The app does not pad, trim or resample."),
    ("1, nan, 2", "Value 2 is 'nan', which is not a finite number. Every sample must be a real number."),
    ("1, 2, 1e400", "Value 3 is '1e400', too large to be a finite number. Every sample must be a real number."),
    ("1, abcdefghijklmnopqrst", f"Value 2 is 'abcdefghijklmnopqrst', which is not a number. "
                                f"Expected {inference.EXPECTED_INPUT}."),
    ("1, abcdefghijklmnopqrstu", f"Value 2 is 'abcdefghijklmnopqrst…', which is not a number. "
                                 f"Expected {inference.EXPECTED_INPUT}."),
    (", ".join(["0.5"] * 180),
     "The beat is flat: all samples are (nearly) equal, so there is no waveform to classify."),
])
def test_refusals_read_as_written(text, message):
    """The whole message a user reads, including the beat's duration and the R-peak's sample counted from 1, and a
    bad value longer than 20 characters cut to its first 20."""
    with pytest.raises(InputError) as err:
        inference.parse_beat(text)
    assert str(err.value) == message


def test_a_beat_as_long_as_the_input_limit_is_accepted_and_one_character_more_refused(beat):
    text = as_text(beat)
    padded = text + " " * (inference.MAX_INPUT_CHARS - len(text))
    np.testing.assert_allclose(inference.parse_beat(padded), beat)
    with pytest.raises(InputError, match="over the limit"):
        inference.parse_beat(padded + " ")


def test_non_finite_and_flat_beats_given_as_arrays_are_refused_in_full(beat):
    bad = beat.copy()
    bad[3] = np.inf
    with pytest.raises(InputError) as err:
        inference.check_beat(bad)
    assert str(err.value) == "The beat contains NaN or infinite values. Every sample must be a real number."
    with pytest.raises(InputError) as err:
        inference.predict_proba(bad)
    assert str(err.value) == "Beats contain NaN or infinite values. Every sample must be a real number."
    at_threshold = np.zeros(180)
    at_threshold[90] = 1e-12
    with pytest.raises(InputError, match="flat"):
        inference.check_beat(at_threshold)


def test_grad_cam_weighs_each_channel_by_its_mean_gradient_and_places_each_cell_at_its_centre(beat):
    """Grad-CAM (Selvaraju et al. 2017) computed here from the model's last block: each channel weighted by its
    gradient averaged over time, summed over channels, negatives cut; each of the block's cells drawn at the centre of
    the samples it covers."""
    model = inference.shipped_model().model
    x = torch.from_numpy(preprocess(beat[None]))
    features = model.features(x.unsqueeze(1)).detach().requires_grad_(True)
    _, logits = model.classify(features)
    top = int(logits[0].argmax())
    (gradient,) = torch.autograd.grad(logits[0, top], features)
    weights = gradient[0].mean(dim=1)
    cam = torch.relu((weights[:, None] * features[0]).sum(dim=0)).detach().numpy()
    cells = len(cam)
    centres = (np.arange(cells) + 0.5) * 180 / cells
    expected = np.interp(np.arange(180), centres, cam)
    np.testing.assert_allclose(inference.explain(beat).saliency, expected / expected.max(), atol=1e-5)


def test_explanation_measures_atypicality_on_the_hidden_layer_it_answered_from(beat):
    loaded = inference.shipped_model()
    _, hidden = inference.predict_with_hidden(preprocess(beat[None]), loaded.model)
    expected = typicality.distance(hidden, loaded.metadata["typicality"])[0]
    result = inference.explain(beat)
    assert result.atypicality == pytest.approx(expected, rel=1e-5)
    assert result.atypical == (expected > loaded.metadata["typicality"]["threshold"])
    assert inference.predict_with_hidden(np.zeros((0, 180), np.float32), loaded.model)[1].shape[0] == 0


def test_a_copy_of_the_shipped_weights_loads_with_its_metadata_and_answers_the_same(weights_copy, beat):
    loaded = inference.load_model(weights_copy)
    assert loaded.metadata == json.loads((weights_copy / inference.METADATA_FILE).read_text())
    x = preprocess(beat[None])
    np.testing.assert_allclose(inference.predict_preprocessed(x, loaded.model), inference.predict_proba(beat),
                               atol=1e-6)


def test_loader_refusals_name_the_file_and_what_to_do(weights_copy, tmp_path):
    with pytest.raises(inference.WeightsError) as err:
        inference.load_model(tmp_path / "nowhere")
    assert str(err.value) == (f"No ecgcnn.json in {tmp_path / 'nowhere'}: train a model with "
                              "`python -m training.train` or restore weights/.")
    rewrite_metadata(weights_copy, beat_length=200)
    with pytest.raises(inference.WeightsError) as err:
        inference.load_model(weights_copy)
    assert str(err.value) == "Metadata beat_length is 200 but this code expects 180."
    rewrite_metadata(weights_copy, beat_length=180, weights_file="gone.safetensors")
    with pytest.raises(inference.WeightsError) as err:
        inference.load_model(weights_copy)
    assert str(err.value) == f"Weights file {weights_copy / 'gone.safetensors'} is missing."
    rewrite_metadata(weights_copy, weights_file="ecgcnn.safetensors", weights_sha256="0" * 64)
    with pytest.raises(inference.WeightsError) as err:
        inference.load_model(weights_copy)
    assert str(err.value) == (f"{weights_copy / 'ecgcnn.safetensors'} does not match the sha256 in "
                              f"{weights_copy / 'ecgcnn.json'}: the file was changed or corrupted.")


def test_predictions_come_from_the_model_given_when_one_is_given(beat):
    from model import ECGCNN

    torch.manual_seed(0)
    other = ECGCNN().eval()
    x = preprocess(beat[None])
    with torch.no_grad():
        expected = torch.softmax(other(torch.from_numpy(x)), dim=1).double().numpy()
    np.testing.assert_allclose(inference.predict_preprocessed(x, other), expected, atol=1e-6)
    assert not np.allclose(inference.predict_preprocessed(x, other), inference.predict_proba(beat), atol=1e-3)
