"""Many recordings at once on Dask distributed: every local core by default, or an existing cluster.

Records are read a stretch at a time (record.analyze_stretches), so a 24-hour
Holter recording takes no more memory than a 30-minute one. Each record gets its
own beats CSV and WFDB annotation file (.cnn) in the output folder, and the run a
summary table (summary.csv). A record whose CSV is already there was done by an
earlier run, even one stopped half-way, and is skipped; a record that cannot be
read is reported in one line and the rest go on. On a cluster every worker must
have this environment (the same requirements) and read the input and output
folders at the same paths.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import dask
import pandas as pd
from distributed import Client, LocalCluster, as_completed
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ecg import record, record_files
from inference import CLASSES, InputError

SUMMARY_FILE = "summary.csv"
# A worker's statistical profiler samples the running task's stack every 10 ms and its event loop checks its own
# health every 20 ms, each taking the task's GIL: with every core busy, each handoff waits for a core.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}


@dataclass(frozen=True)
class Outcome:
    """One record's line in the summary table."""

    record: str
    status: str  # done, skipped (done by an earlier run) or failed
    beats: int = 0
    duration_s: float = float("nan")
    mean_heart_rate_bpm: float = float("nan")
    seconds: float = 0.0
    error: str = ""


def results_of(header: Path, out_dir: Path) -> tuple[Path, Path]:
    """Where a record's beats CSV and annotation file go."""
    name = Path(header).stem
    return out_dir / f"{name}_beats.csv", out_dir / f"{name}.{record.ANNOTATION_EXTENSION}"


def analyse_record(header: Path, out_dir: Path, use_context: bool = True) -> dict:
    """Analyse one WFDB record and write its CSV and .cnn; runs on a worker, never raises for a bad record.

    The CSV is written last, under a temporary name then renamed, so its presence means the record is done.
    A record takes one core: the OpenMP loops of torch and of the context's trees, left to spread over every
    core, took 2.2 s for MIT-BIH record 100 beside two busy processes on a 2-core machine, against 1.0 s on one.
    Dask's own workers start with one thread; this holds on a cluster whose workers did not.
    """
    started = time.perf_counter()
    name = Path(header).stem
    try:
        source = record_files.open_wfdb(Path(header))
        with threadpool_limits(1):
            table = record.analyze_stretches(source.read, source.n_samples, source.fs, use_context=use_context)
    except InputError as err:
        return asdict(Outcome(name, "failed", seconds=time.perf_counter() - started, error=str(err)))
    except Exception as err:  # noqa: BLE001 - one broken record must not stop an archive
        return asdict(Outcome(name, "failed", seconds=time.perf_counter() - started,
                              error=f"{type(err).__name__}: {err}"))
    csv_path, _ = results_of(header, out_dir)
    record.write_annotations(table, name, source.fs, out_dir)
    partial = csv_path.with_suffix(".partial")
    table.insert(0, "record", name)
    table.to_csv(partial, index=False, float_format="%.6g")
    os.replace(partial, csv_path)
    return _row(name, "done", table, source, time.perf_counter() - started)


def _row(name: str, status: str, table: pd.DataFrame, source: record_files.WfdbSource, seconds: float) -> dict:
    counts = record.summary(table, source.n_samples, source.fs)
    row = asdict(Outcome(name, status, counts["beats"], counts["duration_s"], counts["mean_heart_rate_bpm"], seconds))
    return row | {f"n_{c}": counts["per_class"][c] for c in CLASSES}


def _skipped_row(header: Path, csv_path: Path) -> dict:
    """The summary line of a record an earlier run finished, from its CSV and its header."""
    return _row(Path(header).stem, "skipped", pd.read_csv(csv_path), record_files.open_wfdb(Path(header)), 0.0)


@contextmanager
def connected(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    """A client of the cluster at `scheduler`, or of a new LocalCluster with one thread per worker, closed after."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with dask.config.set(LOCAL_WORKER_CONFIG), \
            LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                         dashboard_address=":0", local_directory=tempfile.gettempdir()) as cluster, \
            Client(cluster) as client:
        yield client


def analyse_archive(headers: list[Path], out_dir: Path, scheduler: str | None = None, workers: int | None = None,
                    use_context: bool = True, progress: bool = True) -> pd.DataFrame:
    """Analyse every record not yet done, in parallel; returns and writes the summary table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, todo = [], []
    for header in headers:
        csv_path, annotation = results_of(header, out_dir)
        if csv_path.is_file() and annotation.is_file():
            rows.append(_skipped_row(header, csv_path))
        else:
            todo.append(header)
    if todo:
        with connected(scheduler, workers) as client:
            futures = [client.submit(analyse_record, h, out_dir, use_context, pure=False) for h in todo]
            for future in tqdm(as_completed(futures), total=len(futures), desc="records", unit="record",
                               disable=not progress):
                row = future.result()
                rows.append(row)
                if row["status"] == "failed":
                    tqdm.write(f"{row['record']}: failed: {row['error']}", file=sys.stderr)
    summary = pd.DataFrame(rows).sort_values("record", ignore_index=True)
    summary.to_csv(out_dir / SUMMARY_FILE, index=False, float_format="%.6g")
    return summary

