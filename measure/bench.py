"""Measure the model, a full request and a whole record; print a table of figures.

    python -m measure.bench [--quick] [--model-only | --no-app]

Run it on an idle machine: every figure is wall-clock time on this machine's CPU.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import wfdb
from torch.utils.flop_counter import FlopCounterMode
from wfdb import processing

import inference
from databases import mitbih
from ecg import detection, gqrs_fast, preprocessing, record, record_files
from ecg.synthetic import synthetic_ecg, varied_beat
from measure.local_server import ROOT, http_predict, launched_app, resident_mb
from model import unpack


def percentiles(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `repeats` calls, after one warm-up call."""
    return alternated(fn, repeats=repeats)[0]


def alternated(*calls: Callable[[], object], repeats: int) -> list[tuple[float, float]]:
    """p50 and p95 in milliseconds of each call, the calls made in turn after one warm-up each: the
    machine's speed drifts from minute to minute, so a ratio is only fair when both sides are timed over
    the same minutes."""
    for fn in calls:
        fn()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for fn, kept in zip(calls, times):
            began = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - began)
    return [(float(np.percentile(kept, 50) * 1000), float(np.percentile(kept, 95) * 1000)) for kept in times]


def throughput(batch: int, seconds: float = 2.0) -> float:
    """Beats per second through predict_proba at a batch size."""
    beats = np.stack([varied_beat(i) for i in range(batch)])
    inference.predict_proba(beats)
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        inference.predict_proba(beats)
        done += batch
    return done / (time.perf_counter() - began)


def flops_per_beat() -> int:
    model = inference.shipped_model().model
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 180))
    return counter.get_total_flops()


def thirty_minute_record() -> tuple[np.ndarray, float, str]:
    if mitbih.has_data():
        rec = record_files.read_wfdb(mitbih.default_data_dir() / "100.hea")
        return rec.signal, rec.fs, "MIT-BIH record 100 (650,000 samples)"
    signal, _ = synthetic_ecg(seconds=650_000 / 360)
    return signal, 360.0, "a synthetic 30-minute recording (650,000 samples)"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    p.add_argument("--model-only", action="store_true",
                   help="only the model's own figures: compare a variant with ECG_WEIGHTS_DIR=its folder")
    p.add_argument("--no-app", action="store_true",
                   help="the model's figures and a whole record end to end, without launching the app")
    args = p.parse_args()
    repeats, soak_requests = (20, 100) if args.quick else (200, 1000)
    rows: list[tuple[str, str]] = []
    beat = varied_beat(0)

    p50, p95 = percentiles(lambda: inference.predict_proba(beat), repeats)
    rows.append(("predict_proba, one beat", f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"))
    rates = {batch: throughput(batch) for batch in (1, 64, inference.BATCH_SIZE, 4096)}
    rows += [(f"throughput, {batch} beats a call", f"{rate:,.0f} beats/s") for batch, rate in rates.items()]
    flops = flops_per_beat()
    rows.append(("model cost", f"{flops / 1e6:.1f} MFLOP per beat, {flops * rates[4096] / 1e9:.1f} GFLOP/s achieved on "
                               f"4096 beats a call (the network takes {inference.BATCH_SIZE} at a time)"))
    p50, p95 = percentiles(lambda: inference.explain(beat), repeats)
    rows.append(("explain (prediction + Grad-CAM + atypicality)", f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"))
    if not args.model_only:
        rows += whole_record_rows()
    if not (args.model_only or args.no_app):
        rows += app_rows(repeats, soak_requests) + command_rows() + upload_memory_rows()
    print_table(rows)


def pasted_beats(count: int = 100) -> Callable[[], str]:
    """Each call the next of `count` different beats as pasted text, round and round: a server that keeps
    what it drew before is timed on new beats as well as on beats it has seen."""
    texts = itertools.cycle([", ".join(f"{v:.6g}" for v in varied_beat(i)) for i in range(count)])
    return lambda: next(texts)


def whole_record_rows() -> list[tuple[str, str]]:
    """A 30-minute record end to end against the beat model alone on its beats, and gqrs on it."""
    rows: list[tuple[str, str]] = []
    signal, fs, what = thirty_minute_record()
    peaks = np.round(record.analyze(signal, fs)["sample"].to_numpy() * 360 / fs).astype(int)
    windows = record.beat_windows(preprocessing.to_model_rate(signal, fs), peaks)
    model = inference.shipped_model().model
    (whole_p50, _), (model_p50, _) = alternated(lambda: record.analyze(signal, fs),
                                                lambda: inference.predict_proba(windows), repeats=3)
    figure = (f"{whole_p50 / 1000:.2f} s end to end (median of 3, in turn with the model alone); the model alone "
              f"on its {len(peaks)} beats {model_p50 / 1000:.2f} s: {whole_p50 / model_p50:.2f}x")
    if model.members > 1:
        member = unpack(model)[0]
        member_p50, _ = percentiles(
            lambda: inference.predict_preprocessed(preprocessing.preprocess(windows), member), 3)
        figure += f" ({model.members} members); one member {member_p50 / 1000:.2f} s: {whole_p50 / member_p50:.2f}x"
    rows.append((f"whole record: {what}", figure))
    low = detection.gqrs_input(detection.clean(preprocessing.to_model_rate(signal, fs)))
    ours, _ = percentiles(lambda: gqrs_fast.gqrs_detect(low, detection.DETECTION_RATE), 3)
    theirs, _ = percentiles(lambda: processing.gqrs_detect(sig=low, fs=detection.DETECTION_RATE), 1)
    rows.append(("gqrs on that record, at 120 Hz", f"gqrs_fast {ours:.0f} ms, wfdb.processing.gqrs_detect "
                                                    f"{theirs:.0f} ms (the same beats: tests/test_gqrs_fast.py)"))
    return rows


def app_rows(repeats: int, soak_requests: int) -> list[tuple[str, str]]:
    """The launched app: start-up, request latency and memory."""
    rows: list[tuple[str, str]] = []
    text = pasted_beats()
    from gradio_client import Client
    with launched_app() as app, launched_app(module="measure.floor_app") as floor:
        first = time.perf_counter()
        ok, _ = http_predict(app.url, text())
        startup = app.started_s + time.perf_counter() - first
        rows.append(("start-up to first answered request", f"{startup:.1f} s"))
        rss_start = resident_mb(app.process.pid)
        (app_p50, app_p95), (floor_p50, floor_p95) = alternated(
            lambda: http_predict(app.url, text()), lambda: http_predict(floor.url, text()), repeats=repeats)
        rows.append(("full request, plain HTTP (POST /gradio_api/call/predict)",
                     f"p50 {app_p50:.0f} ms, p95 {app_p95:.0f} ms"))
        client = Client(app.url, verbose=False)
        p50, p95 = percentiles(lambda: client.predict(text(), api_name="/predict"), repeats)
        rows.append(("full request, gradio_client", f"p50 {p50:.0f} ms, p95 {p95:.0f} ms"))
        for i in range(soak_requests):
            http_predict(app.url, ", ".join(f"{v:.6g}" for v in varied_beat(i)))
        rows.append(("server memory (RSS)", f"{rss_start:.0f} MB after start, {resident_mb(app.process.pid):.0f} MB "
                                           f"after {soak_requests} more requests"))
    rows.append(("floor app (same interface, precomputed answers), plain HTTP, requests alternating with the app's",
                 f"p50 {floor_p50:.0f} ms, p95 {floor_p95:.0f} ms; the app's p50 is {app_p50 / floor_p50:.2f}x"))
    return rows


def command_rows() -> list[tuple[str, str]]:
    """How long `python -m ecg.analyze` takes to print its help, to refuse a missing file (it reads the file before
    importing the model) and to analyse a 10-s file (almost all of it start-up), with and without context."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        signal, _ = synthetic_ecg(seconds=10)
        path = Path(folder) / "short.csv"
        path.write_text("\n".join(f"{v:.5f}" for v in signal))
        for what, extra in (("--help", ["--help"]), ("a missing file (refused)", ["absent.hea"]),
                            ("a 10-s CSV, beat model alone", [str(path), "--fs", "360", "--no-context"]),
                            ("a 10-s CSV, with context", [str(path), "--fs", "360"])):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ecg.analyze", *extra], cwd=folder, capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
            rows.append((f"command line start-up: python -m ecg.analyze {what}",
                         f"{time.perf_counter() - started:.1f} s"))
    return rows


def upload_memory_rows() -> list[tuple[str, str]]:
    """The app's peak resident memory while it analyses a 30-minute and a 24-hour two-lead upload through the API,
    each on a freshly started server."""
    from gradio_client import Client, handle_file

    half_hour, _ = synthetic_ecg(seconds=1800, seed=3)
    rows = []
    for name, signal in (("half_hour", half_hour), ("day", np.tile(half_hour, 48))):
        with tempfile.TemporaryDirectory() as folder, launched_app() as app:  # a fresh server for each
            client = Client(app.url, verbose=False)
            wfdb.wrsamp(name, fs=360, units=["mV", "mV"], sig_name=["MLII", "V1"],
                        p_signal=np.column_stack([signal, -signal]), fmt=["212", "212"], write_dir=folder)
            files = [handle_file(str(Path(folder) / f"{name}.{ext}")) for ext in ("hea", "dat")]
            before = resident_mb(app.process.pid)
            with PeakMemory(app.process.pid) as peak:
                started = time.perf_counter()
                client.predict(files, 360, "automatic", True, api_name="/analyze_record")
            rows.append((f"app memory, {len(signal) / 360 / 3600:g}-hour upload through the API",
                         f"{before:.0f} MB before, peak {peak.mb:.0f} MB, {time.perf_counter() - started:.0f} s"))
    return rows


class PeakMemory:
    """The highest resident memory a process reaches while the block runs, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb, self._done = pid, 0.0, threading.Event()

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            self.mb = max(self.mb, resident_mb(self.pid))

    def __enter__(self) -> "PeakMemory":
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def print_table(rows: list[tuple[str, str]]) -> None:
    """The figures as a Markdown table, under a line describing the machine and the weights."""
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads, Python {platform.python_version()}; "
          f"weights from {inference.WEIGHTS_DIR}")
    width = max(len(name) for name, _ in rows)
    print(f"| {'what':<{width}} | figure |\n|{'-' * (width + 2)}|---|")
    for name, figure in rows:
        print(f"| {name:<{width}} | {figure} |")


if __name__ == "__main__":
    main()
