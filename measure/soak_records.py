"""Soak test of the record tab: many whole-recording analyses through the API, one after another, against a
launched app; prints the server's resident memory after the 20th and after the last (issue 43: within 50 MB).

    python -m measure.soak_records [--analyses 200] [--minutes 2]

Each analysis uploads a different synthetic recording (a WFDB record, or every fifth a CSV) and checks the
summary counts every beat.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import wfdb
from gradio_client import Client, handle_file

from ecg.synthetic import synthetic_ecg
from measure.local_server import launched_app, resident_mb

WARM_UP = 20


def recording(folder: Path, i: int, minutes: float) -> tuple[list[str], int]:
    """Upload files of the i-th recording, and how many beats it holds."""
    signal, peaks = synthetic_ecg(seconds=minutes * 60, seed=i)
    if i % 5 == 4:
        path = folder / f"rec{i}.csv"
        path.write_text("\n".join(f"{v:.4f}" for v in signal))
        return [str(path)], len(peaks)
    wfdb.wrsamp(f"rec{i}", fs=360, units=["mV", "mV"], sig_name=["MLII", "V1"],
                p_signal=np.column_stack([signal, -signal]), fmt=["212", "212"], write_dir=str(folder))
    return [str(folder / f"rec{i}.hea"), str(folder / f"rec{i}.dat")], len(peaks)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.soak_records", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--analyses", type=int, default=200)
    p.add_argument("--minutes", type=float, default=2.0, help="length of each recording")
    args = p.parse_args()
    memory, wrong = {}, []
    with tempfile.TemporaryDirectory() as folder, launched_app() as app:
        client = Client(app.url, verbose=False)
        memory["start"] = resident_mb(app.process.pid)
        for i in range(args.analyses):
            files, beats = recording(Path(folder), i, args.minutes)
            summary = client.predict([handle_file(f) for f in files], 360, "automatic", True,
                                     api_name="/analyze_record")[0]
            if f"{beats} beats" not in summary:
                wrong.append(i)
            for f in files:
                Path(f).unlink()
            if i + 1 in (WARM_UP, args.analyses):
                memory[i + 1] = resident_mb(app.process.pid)
    print(f"{args.analyses} analyses of {args.minutes:g}-minute recordings, {len(wrong)} with a wrong beat count")
    print(f"server memory {memory['start']:.0f} MB at start, {memory[WARM_UP]:.0f} MB after analysis {WARM_UP}, "
          f"{memory[args.analyses]:.0f} MB after the last: {memory[args.analyses] - memory[WARM_UP]:+.0f} MB")


if __name__ == "__main__":
    main()
