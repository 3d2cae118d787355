"""Example beats: shipped in assets/, chosen by a fixed rule, the same samples as the local MIT-BIH copy."""

import json

import numpy as np

from databases import mitbih
from ecg import examples
from measure import pick_examples


def test_the_shipped_examples_load_without_any_data_folder_two_per_class_from_ds2_patients(monkeypatch, tmp_path):
    monkeypatch.setenv("MITDB_DIR", str(tmp_path))  # an empty folder: the shipped file alone must do
    found, note = examples.load_examples()
    assert [e.label for e in found] == ["N", "N", "L", "L", "R", "R", "V", "V", "A", "A"]
    assert all(e.record in mitbih.DS2 for e in found)
    assert all(len(e.as_text().split(",")) == 180 for e in found)
    assert "MIT-BIH" in note and "ODC-By" in note and str(tmp_path) not in note
    for label in "NLRVA":
        assert len({e.record for e in found if e.label == label}) == 2, f"two patients for {label}"


def test_the_shipped_beats_are_the_local_copys_samples(data_dir):
    found, _ = examples.load_examples()
    again = examples.from_local_copy([(e.label, e.record, e.sample) for e in found], data_dir)
    for shipped, local in zip(found, again):
        np.testing.assert_allclose(shipped.beat, local.beat, atol=5e-4)
        beats = mitbih.record_beats(shipped.record, data_dir)
        assert beats.labels[beats.peaks == shipped.sample][0] == shipped.label, "the reference label travels"


def test_a_missing_or_broken_file_gives_no_examples_and_says_why(tmp_path):
    assert examples.load_examples(tmp_path / "absent.json")[0] == []
    broken = tmp_path / "examples.json"
    broken.write_text(json.dumps({"examples": [{"label": "N", "record": 100, "sample": 5, "beat": [0.0] * 12}]}))
    found, note = examples.load_examples(broken)
    assert found == [] and "180 samples" in note


def test_the_rule_takes_each_class_median_beat_then_the_other_patients_median():
    labels = np.array(["N"] * 5 + ["V"] * 4 + ["A"])
    records = np.array([1, 1, 1, 2, 2, 3, 3, 4, 4, 5])
    probability = np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4, 0.05])
    rows = pick_examples.pick(labels, records, probability)
    # N: median 0.5 (row 2, patient 1), then patient 2's 0.7 and 0.3 -> lower median 0.3 (row 4);
    # V: 0.2, 0.4, 0.6, 0.8 -> lower median 0.4 (row 8, patient 4), then patient 3's lower median 0.2 (row 5);
    # A: one beat, one patient.
    assert rows == [2, 4, 8, 5, 9]


def test_a_written_file_reads_back_as_the_same_examples(tmp_path):
    beat = np.round(np.sin(np.linspace(0, 3, 180)), 3).astype(np.float32)
    path = tmp_path / "examples.json"
    examples.write_examples([examples.Example("V", 200, 1234, beat)], "a rule", path)
    found, _ = examples.load_examples(path)
    assert found[0].title == examples.Example("V", 200, 1234, beat).title
    np.testing.assert_array_equal(found[0].beat, beat)
    assert json.loads(path.read_text())["rule"] == "a rule"
