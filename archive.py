"""Many recordings at once on Dask distributed: every local core by default, or an existing cluster.

Records are read a stretch at a time (record.analyze_stretches), so a 24-hour
Holter recording takes no more memory than a 30-minute one. Each record gets its
own beats CSV and WFDB annotation file (.cnn) in the output folder, and the run a
summary table (summary.csv). A record whose CSV is already there was done by an
earlier run and is skipped; a record that cannot be read is reported in one line
and the rest go on. On a cluster every worker must have this environment (the
same requirements) and read the input and output folders at the same paths.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from distributed import Client, LocalCluster, as_completed
from tqdm import tqdm

import record
from inference import CLASSES, InputError

SUMMARY_FILE = "summary.csv"


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
    """
    started = time.perf_counter()
    name = Path(header).stem
    try:
        source = record.open_wfdb(Path(header))
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
    counts = record.summary(table, source.n_samples, source.fs)
    row = asdict(Outcome(name, "done", counts["beats"], counts["duration_s"], counts["mean_heart_rate_bpm"],
                         time.perf_counter() - started))
    return row | {f"n_{c}": counts["per_class"][c] for c in CLASSES}


def client_for(scheduler: str | None, workers: int | None) -> Client:
    """A client of the cluster at `scheduler`, or of a new LocalCluster with one thread per worker."""
    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           dashboard_address=":0", local_directory=tempfile.gettempdir())
    return Client(cluster)


def analyse_archive(headers: list[Path], out_dir: Path, scheduler: str | None = None, workers: int | None = None,
                    use_context: bool = True, progress: bool = True) -> pd.DataFrame:
    """Analyse every record not yet done, in parallel; returns and writes the summary table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_summary(out_dir)
    rows, todo = [], []
    for header in headers:
        csv_path, annotation = results_of(header, out_dir)
        name = Path(header).stem
        if csv_path.is_file() and annotation.is_file() and name in previous.index:
            rows.append(previous.loc[name].to_dict() | {"record": name, "status": "skipped"})
        else:
            todo.append(header)
    if todo:
        with client_for(scheduler, workers) as client:
            futures = [client.submit(analyse_record, h, out_dir, use_context, pure=False) for h in todo]
            for future in tqdm(as_completed(futures), total=len(futures), desc="records", unit="record",
                               disable=not progress):
                row = future.result()
                rows.append(row)
                if row["status"] == "failed":
                    tqdm.write(f"{row['record']}: failed: {row['error']}")
    summary = pd.DataFrame(rows).sort_values("record", ignore_index=True)
    summary.to_csv(out_dir / SUMMARY_FILE, index=False, float_format="%.6g")
    return summary


def _previous_summary(out_dir: Path) -> pd.DataFrame:
    """Rows of records an earlier run finished, by record name."""
    path = out_dir / SUMMARY_FILE
    if not path.is_file():
        return pd.DataFrame()
    table = pd.read_csv(path, dtype={"record": str}, keep_default_na=False, na_values=[""])
    return table[table["status"].isin(["done", "skipped"])].set_index("record")

