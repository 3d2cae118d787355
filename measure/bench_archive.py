"""Measure archives and long recordings: records per minute on 1 and 2 Dask workers, beside the same records
in 1 and 2 plain processes (what the machine itself allows), and the peak memory of one recording 30
minutes, 6 hours and 24 hours long.

    python -m measure.bench_archive [--records 12] [--rounds 3] [--hours 0.5 6 24]

MIT-BIH records are used when the data is there (long recordings are made by
joining them end to end, written to a temporary folder); synthetic ones otherwise.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import wfdb

from databases import mitbih
from ecg import archive
from ecg.synthetic import synthetic_ecg

FS = 360


def thirty_minute_signals(count: int) -> list[np.ndarray]:
    """MLII of the first `count` MIT-BIH records, or synthetic 30-minute recordings."""
    if mitbih.has_data():
        return [mitbih.read_record(r)[0].astype(np.float64) for r in sorted(mitbih.DS1 + mitbih.DS2)[:count]]
    return [synthetic_ecg(seconds=1800, seed=i)[0] for i in range(count)]


def write(folder: Path, name: str, signal: np.ndarray) -> Path:
    wfdb.wrsamp(name, fs=FS, units=["mV"], sig_name=["MLII"], p_signal=signal[:, None], fmt=["212"],
                write_dir=str(folder))
    return folder / f"{name}.hea"


def _warm() -> None:
    import inference
    inference.shipped_model()


def records_per_minute(headers: list[Path], workers: int) -> float:
    """Records analysed per minute by a warmed-up LocalCluster of `workers` single-thread workers, started as
    `python -m ecg.analyze FOLDER` starts it."""
    with archive.connected(None, workers) as client, tempfile.TemporaryDirectory() as out:
        client.run(_warm)
        began = time.perf_counter()
        archive.analyse_archive(headers, Path(out), scheduler=client.scheduler_info()["address"], progress=False)
        return len(headers) / (time.perf_counter() - began) * 60


def _one_thread() -> None:
    import torch
    torch.set_num_threads(1)
    _warm()


def plain_records_per_minute(headers: list[Path], processes: int) -> float:
    """The same task as the Dask workers run (archive.analyse_record, writing CSV and .cnn) in warmed-up
    single-thread processes with no Dask: the machine's own scaling."""
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool, tempfile.TemporaryDirectory() as out:
        list(pool.map(time.sleep, [0.5] * processes))
        began = time.perf_counter()
        list(pool.map(archive.analyse_record, headers, [Path(out)] * len(headers)))
        return len(headers) / (time.perf_counter() - began) * 60


def peak_rss_mb(header: Path) -> tuple[float, float, int]:
    """Peak resident memory (MB) and seconds of a fresh process analysing one record, and its beats."""
    # VmHWM, not getrusage: Linux carries ru_maxrss over exec, so a child would report this process's peak.
    code = ("import sys, time; from ecg import record, record_files; s = record_files.open_wfdb(sys.argv[1]); "
            "t = time.perf_counter(); "
            "table = record.analyze_stretches(s.read, s.n_samples, s.fs); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(int(hwm) / 1024, time.perf_counter() - t, len(table))")
    done = subprocess.run([sys.executable, "-c", code, str(header)], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    rss, seconds, beats = done.stdout.split()
    return float(rss), float(seconds), int(beats)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.bench_archive", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=12, help="30-minute records for the throughput figure")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of 1 and 2 workers, alternating; one round's scaling moves by 0.2 on 2 cores")
    p.add_argument("--hours", type=float, nargs="+", default=[0.5, 6, 24], help="lengths of the long recordings")
    args = p.parse_args()
    signals = thirty_minute_signals(args.records)
    with tempfile.TemporaryDirectory() as folder:
        headers = [write(Path(folder), f"r{i:03d}", s) for i, s in enumerate(signals)]
        rounds = [({w: records_per_minute(headers, w) for w in (1, 2)},
                   {n: plain_records_per_minute(headers, n) for n in (1, 2)}) for _ in range(args.rounds)]
        print(f"Machine: {os.cpu_count()} cores. {len(headers)} records of 30 minutes "
              f"({'MIT-BIH' if mitbih.has_data() else 'synthetic'}), {args.rounds} rounds, records per minute:")
        for k, (rates, plain) in enumerate(rounds, 1):
            print(f"  round {k}: Dask workers 1: {rates[1]:.1f}, 2: {rates[2]:.1f} ({rates[2] / rates[1]:.2f}x); "
                  f"plain processes 1: {plain[1]:.1f}, 2: {plain[2]:.1f} ({plain[2] / plain[1]:.2f}x)")
        dask_scaling = np.median([rates[2] / rates[1] for rates, _ in rounds])
        plain_scaling = np.median([plain[2] / plain[1] for _, plain in rounds])
        print(f"  scaling from 1 to 2, median over rounds: Dask workers {dask_scaling:.2f}x, "
              f"plain processes {plain_scaling:.2f}x")
        print("One long recording, read and analysed a stretch at a time in a fresh process:")
        for hours in args.hours:
            joined = np.concatenate([signals[i % len(signals)] for i in range(int(np.ceil(hours * 2)))])
            header = write(Path(folder), f"long{round(hours * 60)}min", joined[:int(hours * 3600 * FS)])
            del joined
            rss, seconds, beats = peak_rss_mb(header)
            print(f"  {hours:g} h: peak RSS {rss:.0f} MB, {seconds:.1f} s, {beats} beats")


if __name__ == "__main__":
    main()
