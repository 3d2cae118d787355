"""Example beats: from the local copy, from PhysioNet, or none with a reason; never committed."""

import numpy as np

from databases import mitbih
from ecg import examples


def test_examples_come_from_the_local_copy_one_per_class_from_ds2_patients(data_dir, monkeypatch):
    monkeypatch.setenv("MITDB_DIR", str(data_dir))
    found, note = examples.load_examples()
    assert "local MIT-BIH copy" in note
    assert [e.label for e in found] == ["N", "L", "R", "V", "A"]
    assert all(e.record in mitbih.DS2 for e in found)
    for e in found:
        beat = mitbih.record_beats(e.record, data_dir)
        np.testing.assert_array_equal(e.beat, beat.windows[beat.peaks == e.sample][0])
        assert len(e.as_text().split(",")) == 180


def test_without_a_local_copy_they_are_streamed_from_physionet(monkeypatch):
    monkeypatch.delenv("MITDB_DIR", raising=False)
    asked = []

    def fake_load(source):
        asked.append(source)
        return ["beat"]

    monkeypatch.setattr(examples, "_load", fake_load)
    found, note = examples.load_examples()
    assert asked == [{"pn_dir": "mitdb"}] and found == ["beat"]
    assert "PhysioNet" in note


def test_offline_without_a_local_copy_the_app_says_why_there_are_no_examples(monkeypatch):
    monkeypatch.delenv("MITDB_DIR", raising=False)

    def offline(source):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(examples, "_load", offline)
    found, note = examples.load_examples()
    assert found == []
    assert "PhysioNet could not be reached" in note and "Set MITDB_DIR" in note


def test_a_wrong_local_folder_is_named_in_the_message(monkeypatch, tmp_path):
    monkeypatch.setenv("MITDB_DIR", str(tmp_path))
    found, note = examples.load_examples()
    assert found == [] and str(tmp_path) in note
