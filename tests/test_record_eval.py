"""record_eval's report on made-up record scores: the no-harm verdict, how training patients were scored, and the
per-split class tables."""

import numpy as np

from measure import record_eval


def made_up_score(name: str, split: str, reference: float, record: float, truth: str, predicted: str,
                  database: str = "mitdb") -> record_eval.RecordScore:
    detection = {"reference_beats": len(truth), "detected_beats": len(truth), "sensitivity": 1.0,
                 "positive_predictivity": 1.0, "peak_offset_median": 0.0, "peak_offset_iqr": 1.0}
    return record_eval.RecordScore(database, name, split, detection, detection, reference, record, record,
                                   np.array(list(truth)), np.array(list(predicted)), np.array(list(truth)))


SCORES = [made_up_score("101", "DS1", 0.990, 0.985, "NNNNA", "NNNNA"),  # loses 0.005: within the margin
          made_up_score("118", "DS1", 0.935, 0.887, "RRRRV", "RRRVV"),
          made_up_score("202", "DS2", 0.983, 0.893, "NNNAV", "NNAAV"),
          made_up_score("804", "SVDB", 0.986, 0.986, "NNNNV", "NNNNV", database="svdb")]


def test_no_harm_counts_only_records_losing_more_than_the_margin_and_names_the_worst():
    lines = record_eval.report(SCORES, "each database at its own rate", "how")
    verdict = next(line for line in lines if line.startswith("No-harm rule"))
    assert "2 of 4 records lose more than 0.01" in verdict
    assert "(202 +0.090, 118 +0.048)" in verdict and "101" not in verdict
    assert verdict.endswith("worst mitdb 202: 0.983 -> 0.893.")


def test_the_report_says_how_the_training_patients_were_scored():
    out_of_fold = record_eval.scored_by(out_of_fold=True, folds_here=True)
    assert "out of fold" in out_of_fold and "never saw its patient" in out_of_fold
    in_sample = record_eval.scored_by(out_of_fold=False, folds_here=False)
    assert "in sample" in in_sample and "python -m training.train" in in_sample
    assert "python -m training.train" not in record_eval.scored_by(out_of_fold=False, folds_here=True)
    assert record_eval.report(SCORES, "rate", out_of_fold)[2] == out_of_fold


def test_class_tables_are_given_for_each_split_with_its_own_beats():
    lines = record_eval.report(SCORES, "rate", "how")
    headings = [line for line in lines if line.startswith("## ") and "detected beats" in line]
    assert [h.split(",")[0] for h in headings] == ["## DS2 (22 patients never trained on)"] * 2 + [
        "## DS1 (training patients)"] * 2 + ["## SVDB (training patients)"] * 2
    svdb_table = lines[lines.index(headings[-1]) + 2]
    assert "| N | 4 |" in svdb_table and "| V | 1 |" in svdb_table and "| A | 0 |" in svdb_table


def test_the_figures_count_harmed_records_for_training_and_ds2_apart():
    figures = record_eval.figures(SCORES, "how", out_of_fold=True)
    assert figures["training_out_of_fold"] is True
    assert figures["no_harm"]["training"] == {"records": 3, "losing_over_0.01": 1, "losing_over_0.05": 0}
    assert figures["no_harm"]["DS2"] == {"records": 1, "losing_over_0.01": 1, "losing_over_0.05": 1}
    assert figures["detection"]["mitdb"]["records"] == 3 and figures["detection"]["svdb"]["records"] == 1
    ds2 = figures["splits"]["DS2, record mode's labels"]["aami"]["per_class"]
    assert ds2["S"]["support"] == 1 and ds2["V"]["sensitivity"] == 1.0
