"""train.py in quick mode, and the metadata of the shipped weights."""

import json
import subprocess
import sys

import numpy as np
import pytest

import inference
import mitbih
from conftest import ROOT


@pytest.fixture(scope="module")
def quick_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    done = subprocess.run([sys.executable, "train.py", "--quick", "--data-dir", str(data_dir), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout


def test_quick_training_writes_loadable_weights_metadata_and_report(quick_run):
    out, stdout = quick_run
    assert "epoch 1" in stdout
    meta = json.loads((out / "ecgcnn.json").read_text())
    assert meta["classes"] == list(inference.CLASSES)
    loaded = inference.load_model(out)
    assert loaded.metadata["weights_sha256"] == meta["weights_sha256"]
    report = (out / "report.md").read_text()
    assert "Confusion matrix" in report and "AAMI" in report
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_quick_training_is_reproducible_with_the_same_seed(quick_run, data_dir, tmp_path):
    out, _ = quick_run
    again = subprocess.run([sys.executable, "train.py", "--quick", "--data-dir", str(data_dir), "--out", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    first = json.loads((out / "ecgcnn.json").read_text())
    second = json.loads((tmp_path / "ecgcnn.json").read_text())
    assert first["weights_sha256"] == second["weights_sha256"]


def test_shipped_weights_never_saw_a_ds2_patient():
    meta = inference.shipped_model().metadata
    assert meta["split"] == "inter-patient"
    seen = set(meta["training_records"]) | set(meta["validation_records"])
    assert seen <= set(mitbih.DS1)
    assert not seen & set(mitbih.DS2)
    assert set(meta["test_records"]) == set(mitbih.DS2)


def test_shipped_metadata_records_what_the_model_was_trained_with():
    meta = inference.shipped_model().metadata
    for key in ("classes", "sampling_rate", "beat_length", "preprocessing", "weights_sha256", "metrics", "command"):
        assert key in meta
    test = meta["metrics"]["test"]["five_class"]
    assert test["n_beats"] == 48_988
    assert np.asarray(test["confusion"]).sum() == test["n_beats"]


def test_shipped_ds2_figures_are_what_the_weights_give(data_dir):
    meta = inference.shipped_model().metadata
    beats = mitbih.load_beats(mitbih.DS2, data_dir)
    predicted = np.asarray(inference.CLASSES)[inference.predict_proba(beats.windows).argmax(axis=1)]
    accuracy = float((predicted == beats.labels).mean())
    assert accuracy == pytest.approx(meta["metrics"]["test"]["five_class"]["accuracy"], abs=1e-4)
