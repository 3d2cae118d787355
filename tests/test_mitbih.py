"""Beat extraction and splits. Tests that read MIT-BIH skip when the data is absent."""

from collections import Counter

import numpy as np

from databases import mitbih
from ecg import record_files


def test_splits_keep_patients_apart():
    assert not set(mitbih.DS1) & set(mitbih.DS2)
    assert not set(mitbih.PACED) & (set(mitbih.DS1) | set(mitbih.DS2))
    assert len(mitbih.DS1) == len(mitbih.DS2) == 22
    assert len(mitbih.ALL_RECORDS) == 48


def test_lead_choice_prefers_mlii():
    assert record_files.lead_index(["V5", "MLII"]) == 1
    assert record_files.lead_index(["V5", "V2"]) == 0


def test_whole_database_gives_the_published_beat_counts(data_dir):
    beats = mitbih.load_beats(mitbih.ALL_RECORDS, data_dir)
    assert len(beats) == 100_038
    assert Counter(beats.labels.tolist()) == {"N": 75_033, "L": 8_073, "R": 7_257, "V": 7_129, "A": 2_546}
    assert beats.windows.shape == (100_038, 180)


def test_beats_are_centred_on_the_annotated_peak_in_millivolts(data_dir):
    beats = mitbih.record_beats(100, data_dir)
    signal, ann, fs = mitbih.read_record(100, data_dir)
    assert fs == 360
    first = beats.peaks[0]
    np.testing.assert_array_equal(beats.windows[0], signal[first - 90:first + 90])
    assert set(beats.records) == {100}
    assert 0.3 < np.median(np.ptp(beats.windows, axis=1)) < 5, "MLII beats should span about 1 mV"


def test_records_are_read_from_the_folder_given_by_mitdb_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MITDB_DIR", str(tmp_path))
    assert mitbih.default_data_dir() == tmp_path
    assert not mitbih.has_data()
