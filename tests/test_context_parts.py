"""Record mode's context, part by part: each feature measured on records built so that the right answer is known,
the fitting's settings, how its answer is combined with the beat model's, and the sentences the record tab shows.
Written from mutation testing (docs/mutation.md): each test failed on a deliberate breakage the others let pass."""

import numpy as np
import pytest

from ecg import context
from ecg.preprocessing import WINDOW_BEFORE

FS = 360.0
RR_COLUMN = {name: i for i, name in enumerate(context.RR_COLUMNS)}
X_COLUMNS = len(context._FEATURE_NAMES)


def test_rr_features_against_the_formula_written_out():
    """RR before of each beat (the first beat's taken from the one after it), after (the last beat's repeated),
    both over the local median and the record's median (the first, copied, RR not counted twice)."""
    before = np.array([1.0, 1.0, 2.0, 3.0, 4.0])
    samples = 1000 + np.concatenate([[0.0], np.cumsum(before[1:])]) * FS
    after = np.array([1.0, 2.0, 3.0, 4.0, 4.0])
    local, overall = 2.0, 2.5
    expected = np.column_stack([before / local, after / local, before / after, np.full(5, local), before / overall,
                                after / overall])
    np.testing.assert_allclose(context.rr_features(samples, FS), expected)


def test_the_local_rr_is_the_median_of_the_ten_beats_either_side():
    rng = np.random.default_rng(3)
    intervals = rng.uniform(0.5, 1.5, 80)
    samples = np.concatenate([[0.0], np.cumsum(intervals)]) * FS
    before = np.concatenate([[intervals[0]], intervals])
    expected = [np.median(before[max(0, i - 10):i + 11]) for i in range(len(before))]
    np.testing.assert_allclose(context.rr_features(samples, FS)[:, RR_COLUMN["local_rr_s"]], expected)


@pytest.mark.parametrize("n", [0, 1])
def test_a_record_of_fewer_than_two_beats_has_neutral_rhythm_features(n):
    samples = np.arange(n) * FS
    np.testing.assert_array_equal(context.rr_features(samples, FS), np.ones((n, len(context.RR_COLUMNS))))
    np.testing.assert_array_equal(context.rhythm_features(samples, FS), np.zeros((n, len(context.RHYTHM_COLUMNS))))


def stretch_beats(n: int, qrs: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(1)
    beats = rng.normal(0, 0.3, (n, 180))
    beats[:, 54:126] = np.sin(np.linspace(0, 3 * np.pi, 72)) if qrs is None else qrs
    return beats


def test_qrs_likeness_reads_the_100_ms_either_side_of_the_r_peak_and_nothing_else():
    beats = stretch_beats(6)
    x = context.shape_features(beats, preprocessed=beats)
    np.testing.assert_allclose(x[:, 1], 1.0)
    assert x[:, 0].max() < 0.99, "the whole window differs"
    for inside in (slice(60, 80), slice(100, 120)):
        changed = beats.copy()
        changed[0, inside] += np.hanning(20)
        assert context.shape_features(changed, preprocessed=changed)[0, 1] < 0.99


def test_qrs_height_is_measured_in_the_records_own_unit_even_below_one():
    beats = stretch_beats(4) * 0.1
    beats[0, 54:126] *= 0.5
    x = context.shape_features(beats, preprocessed=beats)
    assert x[0, 2] == pytest.approx(np.log(0.5), abs=0.05)


@pytest.mark.parametrize("n", [0, 1])
def test_shape_and_p_wave_features_of_a_record_of_fewer_than_two_beats(n):
    beats = stretch_beats(n)
    assert context.shape_features(beats, preprocessed=beats).shape == (n, len(context.SHAPE_COLUMNS))
    p = context.p_wave_features(beats, np.arange(n) * FS, FS)
    assert p.shape == (n, len(context.P_COLUMNS)) and np.isfinite(p).all()


def triangle(steps: int, height: float = 1.0) -> np.ndarray:
    qrs = np.zeros(72)
    qrs[30:30 + steps + 1] = np.concatenate([np.arange(steps // 2 + 1), np.arange(steps // 2)[::-1]]) * height
    return qrs


def test_qrs_width_is_the_span_of_the_middle_80_percent_of_slope_energy_in_any_unit():
    """A triangle of ten unit steps: energy 1 per step, 10% reached at the first step, 90% at the ninth."""
    assert context.qrs_width(triangle(10)[None]).tolist() == [9.0]
    assert context.qrs_width(triangle(10, height=0.01)[None]).tolist() == [9.0]
    assert context.qrs_width(triangle(20)[None]).tolist() == [17.0]


def p_wave_record(spreads: list[float], rr_s: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Beats whose P stretch is one shape at these spreads, at R-peaks with these RR intervals before them."""
    bump = np.hanning(30)
    beats = np.zeros((len(spreads), 180))
    for i, spread in enumerate(spreads):
        beats[i, 20:50] = bump * spread
    samples = 5000 + np.concatenate([[0.0], np.cumsum(rr_s[1:])]) * FS
    return beats, samples


def test_p_spread_is_each_beats_over_the_median_of_the_sinus_beats():
    """Sinus beats are those not early: the early beat's large P wave does not move the sinus median."""
    beats, samples = p_wave_record([1, 2, 3, 4, 10], [1, 1, 1, 1, 0.6])
    spread = np.exp(context.p_wave_features(beats, samples, FS)[:, 1])
    np.testing.assert_allclose(spread / spread[0], [1, 2, 3, 4, 10], rtol=1e-6)
    assert spread[0] == pytest.approx(1 / 2.5, rel=1e-6), "sinus median: the first four, the first beat included"


def test_with_three_sinus_beats_the_sinus_p_wave_is_theirs_and_with_two_every_beats():
    three, samples3 = p_wave_record([1, 2, 3, 10, 10], [1, 1, 1, 0.6, 0.6])
    assert np.exp(context.p_wave_features(three, samples3, FS)[0, 1]) == pytest.approx(1 / 2, rel=1e-6)
    two, samples2 = p_wave_record([1, 2, 10, 10], [1, 1, 0.6, 0.6])
    assert np.exp(context.p_wave_features(two, samples2, FS)[0, 1]) == pytest.approx(1 / 6, rel=1e-6)


def test_a_p_stretch_on_a_slope_reads_as_the_same_p_wave():
    beats, samples = p_wave_record([1, 1, 1, 1], [1, 1, 1, 1])
    sloped = beats.copy()
    sloped[2] += np.linspace(-2, 2, 180)
    on_slope, flat = context.p_wave_features(sloped, samples, FS), context.p_wave_features(beats, samples, FS)
    np.testing.assert_allclose(on_slope[:, :2], flat[:, :2], atol=1e-9)
    np.testing.assert_allclose(on_slope[:, 2], flat[:, 2], atol=1.01 / FS)


def test_the_p_waves_largest_deflection_is_timed_before_the_r_peak():
    beats, samples = p_wave_record([1, 1, 1], [1, 1, 1])
    peak = 20 + np.argmax(np.hanning(30))
    np.testing.assert_allclose(context.p_wave_features(beats, samples, FS)[:, 2], (WINDOW_BEFORE - peak) / FS)


def test_features_of_a_class_given_probability_zero_are_finite():
    p = np.array([[1.0, 0.0, 0.0, 0.0, 0.0]])
    x = context.features(p, np.ones((1, 6)), np.ones((1, 4)), np.zeros((1, 2)), np.zeros((1, 3)))
    assert np.isfinite(x).all() and x[0, 1] == pytest.approx(np.log(1e-6))


def regions(block: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose first RR column alone tells the class: A near -2.5, N near -0.5, V near 1.5, `block` near 4."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.05, (800, X_COLUMNS))
    labels = np.array(["A"] * 200 + ["N"] * 200 + ["V"] * 200 + [block] * 200)
    x[:, 5] = np.concatenate([rng.uniform(lo, lo + 1, 200) for lo in (-3, -1, 1, 3.5)])
    return x, labels


@pytest.mark.parametrize("block", ["L", "R"])
def test_re_deciding_every_beat_fits_bundle_branch_beats_as_conducted_and_the_nva_scope_leaves_them_out(block):
    x, labels = regions(block)
    probe = np.zeros((1, X_COLUMNS))
    probe[0, 5] = 4.0
    n, v = context.CONTEXT_CLASSES.index("N"), context.CONTEXT_CLASSES.index("V")
    every = context.fit(x, labels, "rr", scope="all", learner="trees")
    assert context.logits(every, probe).argmax() == n
    nva = context.fit(x, labels, "rr", scope="nva", learner="trees")
    assert context.logits(nva, probe).argmax() == v


def test_a_fit_with_no_settings_is_logistic_over_n_v_and_a_beats_called_n_v_or_a_with_no_bias():
    x, labels = regions("N")
    params = context.fit(x, labels)
    assert {key: params[key] for key in ("classes", "feature_set", "balanced", "scope", "learner", "n_bias")} == {
        "classes": ["N", "V", "A"], "feature_set": "rr+shape", "balanced": False, "scope": "nva",
        "learner": "logistic", "n_bias": 0.0}
    assert context.learner_of({}) == "logistic"


@pytest.mark.parametrize("learner", context.LEARNERS)
def test_balanced_class_weights_call_the_rare_class_more_often(learner):
    rng = np.random.default_rng(2)
    x, new = rng.normal(0, 1, (2000, X_COLUMNS)), rng.normal(0, 1, (2000, X_COLUMNS))
    labels = np.where(x[:, 5] + rng.normal(0, 1.5, 2000) > 2.5, "A", np.where(x[:, 6] > 1.5, "V", "N"))
    a = context.CONTEXT_CLASSES.index("A")
    calls = {balanced: (context.logits(context.fit(x, labels, "rr", balanced=balanced, learner=learner), new)
                        .argmax(axis=1) == a).sum() for balanced in (False, True)}
    assert calls[True] > 1.3 * calls[False]


def test_a_trees_models_logits_are_its_log_probabilities():
    x, labels = regions("N")
    params = context.fit(x, labels, "rr", learner="trees")
    proba = params["trees"].predict_proba(x[:, params["columns"]])
    order = [list(params["trees"].classes_).index(c) for c in context.CONTEXT_CLASSES]
    np.testing.assert_allclose(np.exp(context.logits(params, x)), proba[:, order], atol=1e-9)


def constant_context(shares: list[float], **settings) -> dict:
    """A logistic context model that answers these N, V, A shares for every beat, whatever it reads."""
    columns = context.input_columns("rr")
    return {"classes": list(context.CONTEXT_CLASSES), "feature_set": "rr", "scope": "all", "learner": "logistic",
            "n_bias": 0.0, "columns": columns, "mean": [0.0] * len(columns), "scale": [1.0] * len(columns),
            "coef": np.zeros((3, len(columns))).tolist(), "intercept": np.log(shares).tolist()} | settings


def test_reranking_several_records_at_once_shares_the_dominant_conduction_within_each_record_only():
    p = np.array([[0.2, 0.7, 0.0, 0.05, 0.05], [0.3, 0.6, 0.0, 0.05, 0.05],
                  [0.6, 0.0, 0.3, 0.05, 0.05], [0.7, 0.0, 0.2, 0.05, 0.05]])
    x = np.zeros((4, X_COLUMNS))
    x[:, context._QRS_CORRELATION] = [0.95, 0.9, 0.99, 0.9]
    params = constant_context([0.8, 0.1, 0.1], dominant_qrs_correlation=0.9)
    adjusted = context.rerank(params, p, x, records=np.array(["a", "a", "b", "b"]))
    conducted_a = np.array([0.25, 0.65, 0.0]) / 0.9
    conducted_b = np.array([0.65, 0.0, 0.25]) / 0.9
    expected = np.vstack([np.tile(np.append(0.8 * conducted_a, [0.1, 0.1]), (2, 1)),
                          np.tile(np.append(0.8 * conducted_b, [0.1, 0.1]), (2, 1))])
    np.testing.assert_allclose(adjusted, expected, atol=1e-9)
    one_record = context.rerank(params, p, x)
    np.testing.assert_allclose(one_record[0, :3], 0.8 * np.array([0.45, 0.325, 0.125]) / 0.9, atol=1e-9)


def test_a_beat_whose_conducted_share_is_one_half_votes_for_its_records_conduction():
    p = np.array([[0.1, 0.9, 0.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0, 0.0]])
    split = context.conducted_split(p, np.array([0.9, 0.9]), np.array([0.5, 0.4]), 0.9)
    np.testing.assert_allclose(split, [[0.1, 0.9, 0.0], [0.1, 0.9, 0.0]])


def test_a_beat_exactly_at_the_a_gate_may_still_be_called_a():
    x = np.zeros((2, X_COLUMNS))
    x[:, context._IRREGULARITY] = [0.08, 0.0800001]
    params = constant_context([0.2, 0.1, 0.7], a_gate=0.08)
    adjusted = context.rerank(params, np.full((2, 5), 0.2), x)
    np.testing.assert_allclose(adjusted[:, 4], [0.7, 0.0], atol=1e-9)


@pytest.mark.parametrize("params, sentence", [
    ({}, "Beats the beat model calls N, V or A are re-decided between those three; L and R stay."),
    ({"a_gate": 0.08}, "Beats the beat model calls N, V or A are re-decided between those three; L and R stay. No "
                       "beat is called A where the rhythm around it is irregular (as in atrial fibrillation)."),
    ({"scope": "all"},
     "Every beat is re-decided between conducted (N, L or R, as the beat model ranks them), V and A."),
    ({"scope": "all", "dominant_qrs_correlation": 0.9, "a_gate": 0.08},
     "Every beat is re-decided between conducted, V and A; conducted beats shaped like the record's dominant beat "
     "share one of N, L or R, the one the beat model gives them most on average. No beat is called A where the "
     "rhythm around it is irregular (as in atrial fibrillation)."),
])
def test_the_record_tab_says_which_beats_context_re_decides_as_written(params, sentence):
    assert context.re_decides({"feature_set": "rr"} | params) == sentence


def test_a_beat_shaped_like_the_template_correlates_fully_whatever_its_offset_and_size():
    template = np.sin(np.linspace(0, 6 * np.pi, 180)) * np.hanning(180)
    beats = np.stack([template * scale + offset for scale, offset in ((1, 0), (0.01, 3), (0.02, -1), (0.015, 0.5))])
    x = context.shape_features(beats, preprocessed=beats)
    np.testing.assert_allclose(x[:, :2], 1.0, atol=1e-9)
