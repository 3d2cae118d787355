"""Record mode's context: rhythm and shape features, the re-ranking rule, and its link to the shipped weights."""

import json

import numpy as np
import pytest

import inference
from databases import mitbih
from ecg import context, record
from ecg.synthetic import ecg_with_beats_at, fibrillating_ecg, synthetic_beat, synthetic_ecg
from inference import WeightsError


def regular_beats(n=30, rr=0.8, fs=360.0):
    return np.round(np.arange(1, n + 1) * rr * fs)


def test_a_premature_beat_has_a_short_rr_before_and_a_long_one_after():
    samples = regular_beats()
    samples[15] -= 0.3 * 360
    x = context.rr_features(samples, 360)
    assert x[15, 0] == pytest.approx(0.625, abs=0.01) and x[15, 1] == pytest.approx(1.375, abs=0.01)
    assert x[15, 4] == pytest.approx(0.625, abs=0.01)
    assert x[5, 0] == pytest.approx(1.0) and x[5, 3] == pytest.approx(0.8)


def test_a_beat_unlike_the_records_own_is_told_from_the_dominant_ones_whatever_the_unit():
    beats = np.stack([synthetic_beat(seed=s) for s in range(20)])
    beats[7] = -2 * synthetic_beat(qrs_width=14.0)
    for unit in (1.0, 1000.0):
        x = context.shape_features(beats * unit)
        assert x[7, 0] < 0.5 and x[7, 1] < 0.5 and abs(x[7, 2]) > 0.3 and x[7, 3] > np.log(2)
        assert np.delete(x[:, 0], 7).min() > 0.95 and np.abs(np.delete(x[:, 2], 7)).max() < 0.05
        assert np.abs(np.delete(x[:, 3], 7)).max() < 0.2


def test_the_rhythm_is_regular_around_early_beats_and_irregular_in_fibrillation():
    samples = regular_beats(60)
    samples[30] -= 0.3 * 360
    regular = context.rhythm_features(samples, 360)
    assert regular[:, 0].max() < 0.01 and regular[30, 1] > 5
    frequent = regular_beats(60)
    frequent[::6] -= 0.3 * 360
    assert context.rhythm_features(frequent, 360)[:, 0].max() < 0.01
    fibrillation = np.cumsum(np.random.default_rng(1).uniform(0.4, 1.2, 60)) * 360
    irregular = context.rhythm_features(fibrillation, 360)
    assert np.median(irregular[:, 0]) > 0.05 and np.abs(irregular[:, 1]).max() < 5


def beats_with_p_waves(times_s, p_polarity, qrs_width_s=0.011, fs=360):
    """A made-up lead with a beat at each time: a P wave 160 ms before its R-peak (upright 1, inverted -1, none 0),
    a QRS of the given width and a T wave; returns the signal and the R-peak samples."""
    t = np.arange(int((times_s[-1] + 1.0) * fs)) / fs
    signal = np.zeros_like(t)
    for r, polarity in zip(times_s, p_polarity):
        d = t - r
        signal += (polarity * 0.15 * np.exp(-((d + 0.16) / 0.025) ** 2) + 1.2 * np.exp(-(d / qrs_width_s) ** 2)
                   + 0.3 * np.exp(-((d - 0.25) / 0.04) ** 2))
    return signal, np.round(np.asarray(times_s) * fs).astype(int)


def p_features_of(signal, peaks):
    windows = record.beat_windows(signal, peaks)
    return context.p_wave_features(context.preprocess(windows), peaks, 360)


@pytest.mark.parametrize("qrs_width_s", [0.011, 0.03])
def test_an_early_beat_with_its_own_p_wave_reads_unlike_the_sinus_p_wave_whatever_the_qrs(qrs_width_s):
    """Narrow and bundle-branch-block-wide beats alike: the QRS of an atrial premature beat is the patient's own,
    its P wave is not."""
    times = np.arange(1, 31) * 0.8
    times[15] -= 0.25
    polarity = np.ones(30)
    polarity[15] = -1
    x = p_features_of(*beats_with_p_waves(times, polarity, qrs_width_s))
    assert x[15, 0] < 0 and np.delete(x[:, 0], 15).min() > 0.9
    assert np.abs(np.delete(x[:, 2], 15) - 0.16).max() < 0.02, "the P wave lies 160 ms before the R-peak"


def test_a_run_of_ectopic_beats_does_not_become_the_sinus_p_wave_though_it_sets_the_rhythm():
    """Twelve fast ectopic beats in a row, each with its own inverted P wave, among slower sinus beats: the record's
    slower beats define the sinus P wave, so the run reads unlike it even where it is on time against its own rate."""
    sinus = list(np.arange(1, 13) * 0.8)
    run = list(sinus[-1] + np.arange(1, 13) * 0.45)
    after = list(run[-1] + np.arange(1, 13) * 0.8)
    times = np.array(sinus + run + after)
    polarity = np.r_[np.ones(12), -np.ones(12), np.ones(12)]
    x = p_features_of(*beats_with_p_waves(times, polarity))
    assert x[12:24, 0].max() < 0 and np.r_[x[1:12, 0], x[24:, 0]].min() > 0.9


def test_a_beat_without_a_p_wave_reads_flat_before_its_qrs():
    times = np.arange(1, 31) * 0.8
    polarity = np.ones(30)
    polarity[10] = 0
    x = p_features_of(*beats_with_p_waves(times, polarity))
    assert x[10, 1] < np.log(0.5) and np.abs(np.delete(x[:, 1], 10)).max() < 0.1


def rhythm_of(rr_before_local, irregularity):
    return np.array([[irregularity, (1 - rr_before_local) / (irregularity + context.IRREGULARITY_FLOOR)]])


# P-wave features of a beat whose P wave is the record's sinus one: what these made-up rows give every beat, so that
# the tests below judge RR, shape and rhythm alone.
SINUS_P = np.array([[0.95, 0.0, 0.15]])
NORMAL_PATIENTS = (("N", "N", 1.0, 0.98, 0.02), ("A", "N", 0.6, 0.98, 0.02), ("V", "V", 0.7, 0.3, 0.02),
                   ("N", "N", 0.6, 0.98, 0.4))
# A patient with right bundle branch block: conducted beats called R, atrial premature ones too (same shape, early).
BLOCKED_PATIENTS = (("R", "R", 1.0, 0.98, 0.02), ("A", "R", 0.6, 0.98, 0.02))


def made_up_rows(patients=NORMAL_PATIENTS):
    """Beats the beat model calls N whether they are N or A; A beats come early in a regular rhythm, V beats
    look different, and in fibrillation (an irregular rhythm) early normal-looking beats are N. Each entry of
    `patients`: label, the class the beat model calls, RR before over the local RR, shape correlation, irregularity."""
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for label, called, before, shape, irregularity in patients:
        for _ in range(200):
            p = np.full(5, 0.05)
            p["NLRVA".index(called)] = 0.8
            rr_before = before + rng.normal(0, 0.03)
            rr_after = (1.3 if before < 1 else 1.0) + rng.normal(0, 0.03)
            rr = [rr_before, rr_after, rr_before / rr_after, 0.8, rr_before, rr_after]
            r = shape + rng.normal(0, 0.01)
            width = 0.8 if called == "V" else 0.0
            rows.append(context.features((p / p.sum())[None], np.array([rr]), np.array([[r, r, 0.0, width]]),
                                         rhythm_of(rr_before, irregularity + rng.normal(0, 0.01)),
                                         SINUS_P + rng.normal(0, 0.01, (1, 3)))[0])
            labels.append(label)
    return np.array(rows), np.array(labels)


@pytest.mark.parametrize("learner", context.LEARNERS)
@pytest.mark.parametrize("feature_set", list(context.FEATURE_SETS))
def test_context_turns_a_premature_n_looking_beat_into_a_and_leaves_l_and_r_alone(feature_set, learner):
    without_fibrillation = [patient for patient in NORMAL_PATIENTS if patient[4] < 0.1]  # RR alone can't tell it
    params = context.fit(*made_up_rows(without_fibrillation), feature_set=feature_set, learner=learner)
    samples = regular_beats()
    samples[15] -= 0.32 * 360
    windows = np.stack([synthetic_beat(seed=s) for s in range(30)])
    p = np.tile([0.7, 0.05, 0.05, 0.05, 0.15], (30, 1))
    p[20] = [0.2, 0.6, 0.05, 0.05, 0.1]
    adjusted = context.apply(params, p, samples, 360, windows)
    np.testing.assert_allclose(adjusted.sum(axis=1), 1)
    assert adjusted[15].argmax() == 4 and adjusted[5].argmax() == 0
    np.testing.assert_array_equal(adjusted[20], p[20])


@pytest.mark.parametrize("learner", context.LEARNERS)
def test_a_model_reads_only_the_columns_of_its_feature_set(learner):
    x, y = made_up_rows()
    rr_only = context.fit(x, y, feature_set="rr", learner=learner)
    changed = x.copy()
    changed[:, -5:] = 0.0
    p = np.exp(x[:, :5])
    np.testing.assert_allclose(context.rerank(rr_only, p, x), context.rerank(rr_only, p, changed))
    assert len(rr_only["columns"]) == 5 + len(context.RR_COLUMNS)


def early_beat_in_regular_rhythm_and_in_fibrillation() -> tuple[np.ndarray, np.ndarray]:
    """The beat model's probabilities and context features of the same early, normal-looking beat with a sinus P
    wave, first in a regular rhythm, then in an irregular one."""
    p = np.tile([0.7, 0.05, 0.05, 0.05, 0.15], (2, 1))
    early = [0.6, 1.3, 0.6 / 1.3, 0.8, 0.6, 1.3]
    rhythm = np.concatenate([rhythm_of(0.6, 0.02), rhythm_of(0.6, 0.4)])
    return p, context.features(p, np.array([early, early]), np.array([[0.98, 0.98, 0.0, 0.0]] * 2), rhythm,
                               np.repeat(SINUS_P, 2, axis=0))


@pytest.mark.parametrize("learner", context.LEARNERS)
def test_with_the_rhythm_an_early_beat_is_a_in_a_regular_rhythm_and_n_in_fibrillation(learner):
    params = context.fit(*made_up_rows(), feature_set="rr+shape+rhythm", learner=learner)
    p, x = early_beat_in_regular_rhythm_and_in_fibrillation()
    assert list(context.rerank(params, p, x).argmax(axis=1)) == [4, 0]


def test_an_a_gate_leaves_no_a_where_the_rhythm_around_a_beat_is_irregular():
    regular_patients = [patient for patient in NORMAL_PATIENTS if patient[4] < 0.1]  # early means A to timing alone
    timing_only = context.fit(*made_up_rows(regular_patients), feature_set="rr", learner="logistic")
    p, x = early_beat_in_regular_rhythm_and_in_fibrillation()
    assert list(context.rerank(timing_only, p, x).argmax(axis=1)) == [4, 4]
    gated = context.rerank(dict(timing_only, a_gate=0.1), p, x)
    assert list(gated.argmax(axis=1)) == [4, 0] and gated[1, 4] == 0.0
    np.testing.assert_allclose(gated.sum(axis=1), 1)
    assert "irregular" in context.re_decides(dict(timing_only, a_gate=0.1))


@pytest.mark.parametrize("learner", context.LEARNERS)
def test_re_deciding_every_beat_finds_atrial_premature_beats_shaped_like_the_patients_bundle_branch_block(learner):
    x, y = made_up_rows(NORMAL_PATIENTS + BLOCKED_PATIENTS)
    p = np.tile([0.1, 0.05, 0.7, 0.05, 0.1], (2, 1))
    early, on_time = [0.6, 1.3, 0.6 / 1.3, 0.8, 0.6, 1.3], [1.0, 1.0, 1.0, 0.8, 1.0, 1.0]
    rows = context.features(p, np.array([early, on_time]), np.array([[0.97, 0.97, 0.0, 0.0]] * 2),
                            np.concatenate([rhythm_of(0.6, 0.02), rhythm_of(1.0, 0.02)]), np.repeat(SINUS_P, 2, axis=0))
    every_beat = context.rerank(context.fit(x, y, "rr+shape+rhythm", scope="all", learner=learner), p, rows)
    np.testing.assert_allclose(every_beat.sum(axis=1), 1)
    assert list(every_beat.argmax(axis=1)) == [4, 2]
    only_nva = context.rerank(context.fit(x, y, "rr+shape+rhythm", scope="nva", learner=learner), p, rows)
    np.testing.assert_array_equal(only_nva, p)


def test_beats_shaped_like_the_dominant_beat_share_the_conduction_the_beat_model_gives_them_most_in_their_record():
    p = np.array([[0.5, 0.4, 0.0, 0.05, 0.05],  # record a: dominant-like beats mostly L on average
                  [0.3, 0.6, 0.0, 0.05, 0.05],
                  [0.2, 0.7, 0.0, 0.05, 0.05],
                  [0.9, 0.0, 0.0, 0.05, 0.05],  # record a, another QRS shape: keeps its own split
                  [0.6, 0.0, 0.3, 0.05, 0.05],  # record b: its own dominant conduction, N
                  [0.4, 0.0, 0.5, 0.05, 0.05]])
    correlation = np.array([0.99, 0.97, 0.98, 0.5, 0.99, 0.96])
    records = np.array(["a", "a", "a", "a", "b", "b"])
    conducted = np.full(6, 0.9)
    own = context.conducted_split(p, correlation, conducted, None, records)
    shared = context.conducted_split(p, correlation, conducted, 0.9, records)
    assert list(own.argmax(axis=1)) == [0, 1, 1, 0, 0, 2]
    assert list(shared.argmax(axis=1)) == [1, 1, 1, 0, 0, 0]
    np.testing.assert_allclose(shared[3], own[3])
    np.testing.assert_allclose(shared.sum(axis=1), 1)
    v_called = context.conducted_split(p, correlation, np.array([0.9, 0.1, 0.1, 0.9, 0.9, 0.9]), 0.9, records)
    assert list(v_called[:3].argmax(axis=1)) == [0, 0, 0], "beats context calls V or A do not vote"


def test_a_context_model_saved_without_a_scope_re_decides_only_beats_called_n_v_or_a():
    x, y = made_up_rows(NORMAL_PATIENTS + BLOCKED_PATIENTS)
    params = context.fit(x, y, "rr+shape+rhythm", scope="all")
    del params["scope"]
    p = np.exp(x[:, :5])
    called_r = p.argmax(axis=1) == 2
    np.testing.assert_array_equal(context.rerank(params, p, x)[called_r], p[called_r])


def test_a_trees_context_model_answers_the_same_after_saving_and_loading(tmp_path):
    x, y = made_up_rows()
    params = dict(context.fit(x, y, "rr+shape+rhythm", balanced=True, scope="all", learner="trees"), n_bias=1.0)
    context.save(params, tmp_path)
    assert "trees" not in json.loads((tmp_path / context.CONTEXT_FILE).read_text())
    loaded = context.shipped_params(tmp_path)
    p = np.exp(x[:, :5])
    np.testing.assert_array_equal(context.rerank(loaded, p, x), context.rerank(params, p, x))


def test_a_logistic_context_model_saved_over_a_trees_one_leaves_no_trees_behind(tmp_path):
    x, y = made_up_rows()
    context.save(context.fit(x, y, learner="trees"), tmp_path)
    context.save(context.fit(x, y, learner="logistic"), tmp_path)
    assert not (tmp_path / context.TREES_FILE).exists()
    assert context.shipped_params(tmp_path)["learner"] == "logistic"


def test_a_trees_context_model_without_its_trees_file_says_which_file_is_missing(tmp_path):
    x, y = made_up_rows()
    context.save(context.fit(x, y, learner="trees"), tmp_path)
    (tmp_path / context.TREES_FILE).unlink()
    with pytest.raises(WeightsError, match=context.TREES_FILE):
        context.shipped_params(tmp_path)


def test_a_context_model_fitted_when_its_inputs_lay_otherwise_is_refused(tmp_path):
    """Stop 33's files read column 14 as the rhythm's irregularity, which is now the QRS width: they must not load."""
    x, y = made_up_rows()
    params = context.fit(x, y, "rr+shape+rhythm")
    context.save({key: value for key, value in params.items() if key != "inputs"}, tmp_path)
    with pytest.raises(WeightsError, match="other inputs"):
        context.shipped_params(tmp_path)
    shifted = dict(params, inputs=params["inputs"][:-3] + ["rr_irregularity", "earliness_over_irregularity", "x"])
    context.save(shifted, tmp_path)
    with pytest.raises(WeightsError, match="other inputs"):
        context.shipped_params(tmp_path)


def test_a_context_model_is_described_by_what_it_reads_and_re_decides():
    params = {"feature_set": "rr+shape+rhythm", "scope": "all"}
    assert context.reads(params) == "RR intervals, the record's dominant beat, how regular the rhythm is"
    assert "conducted (N, L or R" in context.re_decides(params)
    assert "L and R stay" in context.re_decides({"feature_set": "rr"})


def test_a_regular_rhythm_of_one_beat_shape_is_not_turned_into_atrial_premature_beats():
    signal, _ = synthetic_ecg(seconds=120, seed=3)
    table = record.analyze(signal, 360)
    assert (table["label"] == "A").sum() <= (table["beat_label"] == "A").sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_beats_in_atrial_fibrillation_are_not_turned_into_atrial_premature_beats(seed):
    signal, peaks = fibrillating_ecg(seed)
    table = record.analyze(signal, 360)
    assert len(table) == len(peaks)
    called_a = (table["label"] == "A").sum()
    assert called_a <= (table["beat_label"] == "A").sum() and called_a < 0.05 * len(table)


def test_a_record_whose_peaks_sit_late_is_windowed_on_its_largest_deflection():
    peaks_s = np.arange(0.6, 29.5, 0.8)
    signal, peaks = ecg_with_beats_at(peaks_s, 30.0)
    late = np.concatenate([np.zeros(7), signal])  # the same record, every beat 7 samples later
    found = record.analyze(late, 360)["sample"].to_numpy()
    assert len(found) == len(peaks)
    assert np.abs(found - (peaks + 7)).max() <= 1


def test_without_context_the_label_is_the_beat_models_own():
    signal, _ = synthetic_ecg()
    table = record.analyze(signal, 360, use_context=False)
    assert (table["label"] == table["beat_label"]).all()
    np.testing.assert_allclose(table["confidence"], table["beat_confidence"])


def test_shipped_context_model_belongs_to_the_shipped_weights_and_was_judged_on_training_patients():
    params = json.loads((inference.WEIGHTS_DIR / context.CONTEXT_FILE).read_text())
    meta = inference.shipped_model().metadata
    assert params["weights_sha256"] == meta["weights_sha256"]
    training = {f"{db}:{r}" for db in ("mitdb", "svdb") for r in meta["training_data"][db]}
    assert set(params["fitted_on"]) == training
    assert not {f"mitdb:{r}" for r in mitbih.DS2} & set(params["fitted_on"])
    judged = params["cross_validated"]
    everywhere = [judged] + list(judged["left_out"].values())
    helps = all(j["with_context"]["s_v_f1"] > j["beat_model"]["s_v_f1"]
                and j["with_context"]["macro_f1"] >= j["beat_model"]["macro_f1"] for j in everywhere)
    assert params["used"] == helps


def test_a_context_model_for_other_weights_is_refused(monkeypatch):
    params = dict(context.shipped_params(inference.WEIGHTS_DIR), weights_sha256="0" * 64, used=True)
    monkeypatch.setattr(context, "shipped_params", lambda _: params)
    with pytest.raises(WeightsError, match="fitted for other weights"):
        record.context_params()


def test_svdb_unseen_by_both_models_is_scored_on_the_left_out_answers_with_context_fitted_without_it():
    from training import train_context
    x, y = made_up_rows()
    half = len(y) // 2
    order = np.random.default_rng(2).permutation(len(y))
    x, y = x[order], y[order]
    data = {"x": x, "y": y, "p": np.exp(x[:, :5]), "database": np.where(np.arange(len(y)) < half, "mitdb", "svdb"),
            "record": np.where(np.arange(len(y)) < half, "mitdb:1", "svdb:1")}
    assert train_context.unseen_svdb(data, ("rr+shape+rhythm", False, "nva", "logistic", 0.0, None, None)) is None
    always_n = np.tile([0.9, 0.025, 0.025, 0.025, 0.025], (len(y), 1))
    data["left_out_p"] = always_n
    scores = train_context.unseen_svdb(data, ("rr+shape+rhythm", False, "nva", "logistic", 0.0, None, None))
    svdb_beats = len(y) - half
    alone, with_context = scores["beat model alone"]["five_class"], scores["with context"]["five_class"]
    assert sum(alone["per_class"][c]["support"] for c in "NLRVA") == svdb_beats
    assert alone["per_class"]["A"]["f1"] == 0 and with_context["per_class"]["A"]["f1"] > 0.5


def test_the_records_left_out_of_the_harm_rule_are_named_as_the_training_rows_name_records():
    """The rule's exceptions must match the rows' record names, or they are counted after all (they once were)."""
    from training import train_context

    data = {"record": np.array(["svdb:804"] * 4 + ["mitdb:101"] * 4), "y": np.array(["N"] * 8),
            "p": np.tile([0.9, 0.025, 0.025, 0.025, 0.025], (8, 1))}
    harmed = train_context.harmed_records(data, np.array(["A"] * 4 + ["N"] * 4))
    assert harmed == ["svdb:804"]
    assert set(harmed) <= set(train_context.LEFT_OUT_OF_HARM)


def test_records_whose_scored_beats_are_mostly_ectopic_are_left_out_of_the_harm_rule():
    """A run of atrial ectopy sets the record's dominant beat and rhythm, which context compares against, so the
    harm rule does not count such a record (amendment 3); a record with a conducted majority still counts."""
    from training import train_context

    records = ["svdb:865"] * 10 + ["mitdb:118"] * 10 + ["svdb:891"] * 4
    labels = ["A"] * 6 + ["N"] * 4 + ["R"] * 6 + ["A"] * 4 + ["V", "A", "V", "A"]
    data = {"record": np.array(records), "y": np.array(labels)}
    left_out = train_context.left_out_of_harm(data)
    assert "svdb:865" in left_out and "svdb:891" in left_out
    assert "mitdb:118" not in left_out
    assert set(train_context.LEFT_OUT_OF_HARM) <= set(left_out)


def test_false_atrial_premature_calls_are_counted_inside_and_outside_fibrillation_per_record():
    from measure import fibrillation_a

    data = {"record": np.array(["mitdb:201"] * 4 + ["mitdb:100"] * 3), "y": np.array(list("NNAN") + list("NAN"))}
    fibrillating = np.array([True, True, False, False, False, False, False])
    called = np.array(list("AAAA") + list("AAN"))
    lines = fibrillation_a.false_a_table(data, fibrillating, {"context": called})
    assert lines[2] == "| mitdb:201 | 2 | 2 | 1 | 1 of 1 |"
    assert lines[-1] == "| all | 2 | 2 | 2 | 2 of 2 |"
    assert len(lines) == 4  # 100 has no beat in fibrillation: only the totals count it
    assert fibrillation_a.without_rhythm(("rr+shape+rhythm+p", True, "all", "trees", 1.5, None))[0] == "rr+shape+p"


def test_a_candidate_that_calls_early_beats_in_fibrillation_a_is_not_calm_there():
    from training import train_context

    fibrillation = train_context.fibrillation_rows()
    assert set(np.unique(fibrillation["record"])) == set(train_context.FIBRILLATION_SEEDS)
    x, y = made_up_rows()
    timing_only = context.fit(x, y, feature_set="rr", learner="logistic")
    with_rhythm = context.fit(x, y, feature_set="rr+shape+rhythm", learner="logistic")
    calm = train_context.calm_in_fibrillation(with_rhythm, fibrillation)
    assert calm[(3.0, None, None)]
    assert not train_context.calm_in_fibrillation(timing_only, fibrillation)[(0.0, None, None)]
    assert train_context.calm_in_fibrillation(timing_only, fibrillation)[(0.0, None, 0.08)], "the gate calms it"
