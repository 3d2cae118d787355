"""Property-based tests: whatever the text or the file, the app classifies or refuses with its own message."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inference
from ecg import record, record_files
from inference import InputError

FAST = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
separators = st.sampled_from([",", ", ", ";", " ", "\n", "\t", ",\n"])
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@FAST
@given(st.text(max_size=3000))
def test_any_text_is_parsed_or_refused_with_a_message(text):
    try:
        beat = inference.parse_beat(text)
    except InputError as err:
        assert len(str(err)) > 20
    else:
        assert beat.shape == (180,) and np.all(np.isfinite(beat))


@FAST
@given(st.lists(st.one_of(finite.map(repr), st.sampled_from(["nan", "inf", "-Infinity", "1e400", "--1", "1.2.3",
                                                             "", "٣", "1e", "e5", ".", "+"])),
                min_size=170, max_size=190), separators)
def test_near_miss_number_lists_are_parsed_or_refused(tokens, separator):
    try:
        beat = inference.parse_beat(separator.join(tokens))
    except InputError as err:
        message = str(err)
        assert any(kind in message for kind in ("Expected 180 numbers", "a beat needs exactly 180",
                                                "not a finite number", "too large to be a finite number",
                                                "flat", "beyond"))
    else:
        assert beat.shape == (180,)


@FAST
@given(st.lists(finite, min_size=180, max_size=180), separators)
def test_any_180_finite_numbers_are_classified_or_called_flat(values, separator):
    text = separator.join(repr(v) for v in values)
    try:
        beat = inference.parse_beat(text)
    except InputError as err:
        assert "flat" in str(err)
        return
    p = inference.predict_proba(beat)
    assert p.shape == (1, 5) and np.all(np.isfinite(p))
    assert abs(p.sum() - 1) < 1e-6


@settings(max_examples=40, deadline=5000)
@given(st.binary(max_size=20_000), st.sampled_from([".dat", ".hea", ".csv", ".txt", ".atr"]))
def test_random_bytes_uploaded_as_a_file_get_a_message(tmp_path_factory, data, suffix):
    folder = tmp_path_factory.mktemp("upload")
    path = folder / f"rec{suffix}"
    path.write_bytes(data)
    companions = [path]
    if suffix in {".dat", ".atr"}:
        (folder / "rec.hea").write_bytes(data[:200])
        companions.append(folder / "rec.hea")
    try:
        source = record_files.open_uploads(companions, 360, None, tmp_path_factory.mktemp("opened"))
        record.analyze_stretches(source.read, source.n_samples, source.fs)
    except InputError as err:
        assert str(err)


def test_a_huge_text_is_refused_before_it_is_parsed():
    with pytest.raises(InputError, match="over the limit"):
        inference.parse_beat("1," * 5_000_000)
