"""Folders of records on a real Dask LocalCluster of two workers, on WFDB records the tests write."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import wfdb
from conftest import ROOT, matched_share, write_record

from ecg import archive, record


@pytest.fixture(scope="module")
def archive_folder(tmp_path_factory):
    """Three good records, MLII stored second (the first lead is another shape), and one whose data file is cut
    short."""
    folder = tmp_path_factory.mktemp("records")
    peaks = {name: write_record(folder, name=name, seed=seed, names=("V1", "MLII"))[1]
             for seed, name in enumerate(["a1", "b2", "c3"])}
    write_record(folder, name="bad")
    dat = folder / "bad.dat"
    dat.write_bytes(dat.read_bytes()[:3000])
    return folder, peaks


@pytest.fixture(scope="module")
def first_run(archive_folder, tmp_path_factory):
    folder, _ = archive_folder
    out = tmp_path_factory.mktemp("results")
    summary = archive.analyse_archive(sorted(folder.glob("*.hea")), out, workers=2, progress=False)
    return out, summary


def test_every_record_gets_its_csv_and_annotations_and_a_bad_one_is_reported(archive_folder, first_run):
    _, peaks = archive_folder
    out, summary = first_run
    status = dict(zip(summary["record"], summary["status"]))
    assert status == {"a1": "done", "b2": "done", "c3": "done", "bad": "failed"}
    bad = summary.set_index("record").loc["bad"]
    assert "truncated" in bad["error"]
    for name, truth in peaks.items():
        table = pd.read_csv(out / f"{name}_beats.csv")
        assert (table["record"] == name).all()
        assert matched_share(table["sample"].to_numpy(), truth, tolerance=3) == 1.0
        annotation = wfdb.rdann(str(out / name), "cnn")
        np.testing.assert_array_equal(annotation.sample, table["sample"])
        assert summary.set_index("record").loc[name, "beats"] == len(table)
    assert pd.read_csv(out / archive.SUMMARY_FILE)["record"].tolist() == sorted(status)


def test_a_rerun_skips_records_already_done_and_tries_the_failed_one_again(archive_folder, first_run):
    folder, _ = archive_folder
    out, first = first_run
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*_beats.csv")}
    (out / archive.SUMMARY_FILE).unlink()  # as a run stopped before its summary leaves it
    summary = archive.analyse_archive(sorted(folder.glob("*.hea")), out, workers=2, progress=False)
    status = dict(zip(summary["record"], summary["status"]))
    assert status == {"a1": "skipped", "b2": "skipped", "c3": "skipped", "bad": "failed"}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_beats.csv")} == written
    done = ["a1", "b2", "c3"]
    pd.testing.assert_series_equal(summary.set_index("record").loc[done, "beats"],
                                   first.set_index("record").loc[done, "beats"])


def test_command_line_runs_a_folder_and_exits_2_when_a_record_failed(archive_folder, tmp_path):
    folder, _ = archive_folder
    done = subprocess.run([sys.executable, "-m", "ecg.analyze", str(folder), "--out", str(tmp_path), "--workers", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "4 records: 3 done, 0 skipped, 1 failed" in done.stdout
    assert "bad: failed:" in done.stderr and "failed:" not in done.stdout.replace("1 failed", "")
    assert sorted(p.name for p in tmp_path.glob("*_beats.csv")) == ["a1_beats.csv", "b2_beats.csv", "c3_beats.csv"]


def test_a_record_takes_one_core_so_records_side_by_side_do_not_fight_over_them(archive_folder, tmp_path, monkeypatch):
    folder, _ = archive_folder
    threads = []
    analyze = record.analyze_stretches

    def counting(*args, **kwargs):
        threads.append({pool["num_threads"] for pool in threadpoolctl.threadpool_info()})
        return analyze(*args, **kwargs)

    monkeypatch.setattr(record, "analyze_stretches", counting)
    with threadpoolctl.threadpool_limits(2):
        row = archive.analyse_record(folder / "a1.hea", tmp_path)
    assert row["status"] == "done" and threads == [{1}]
