"""The command line for whole recordings: one record or CSV file, or a folder of WFDB records.

    python -m ecg.analyze PATH [--fs HZ] [--channel N] [--out beats.csv] [--no-context]
    python -m ecg.analyze FOLDER [--out DIR] [--workers N | --scheduler tcp://host:8786]

PATH is a WFDB record (its .hea, or the name without extension) or a CSV/TXT with one column of samples;
every beat goes to NAME_beats.csv in the working directory, or to --out. A FOLDER of WFDB records is
analysed in parallel on Dask: one CSV and .cnn per record and summary.csv in DIR (default
results/FOLDER_NAME); a re-run skips records already done. Problems with the input are one line on
stderr and exit status 2 (for a folder: one line per failed record, exit status 2 if any failed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m ecg.analyze", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", type=Path, help="WFDB record (.hea), CSV/TXT file, or folder of WFDB records")
    p.add_argument("--fs", type=float, help="sampling rate in Hz of a CSV/TXT file (WFDB headers state theirs)")
    p.add_argument("--channel", type=int, help="channel of a WFDB record to use (default: MLII)")
    p.add_argument("--out", type=Path, help="CSV file of every beat (default NAME_beats.csv); for a folder, the "
                                            "output folder")
    p.add_argument("--no-context", action="store_true", help="label beats with the beat model alone")
    p.add_argument("--workers", type=int, help="folder: local Dask workers, one thread each (default: every core)")
    p.add_argument("--scheduler", help="folder: address of a running Dask scheduler to use instead")
    args = p.parse_args()
    from ecg.errors import InputError, WeightsError

    try:
        failed = run_folder(args) if args.path.is_dir() else run(args)
    except (InputError, WeightsError) as err:
        print(f"ecg.analyze: {args.path}: {err}", file=sys.stderr)
        sys.exit(2)
    if failed:
        sys.exit(2)


def run(args: argparse.Namespace) -> bool:
    """Analyse one record or CSV file and write its beats; input problems raise InputError. The file is read before
    the model and the detector are imported, so that a bad one is refused at once."""
    from ecg import record_files

    recording = record_files.read_file(args.path, args.fs, args.channel)
    from ecg import record

    table = record.analyze(recording.signal, recording.fs, use_context=not args.no_context)
    counts = record.summary(table, len(recording.signal), recording.fs)
    line = f"{recording.name}: {counts['beats']} beats, " + ", ".join(
        f"{c} {n}" for c, n in counts["per_class"].items())
    if counts["atypical"]:
        line += f"; {counts['atypical']} unlike the training beats (column atypical)"
    if recording.reference is not None:
        agreed = record.agreement(table, recording.reference, recording.fs)
        line += (f"; detection Se {agreed['sensitivity']:.4f} +P {agreed['positive_predictivity']:.4f}, "
                 f"class agreement {agreed['class_agreement']:.3f} on {agreed['matched_known_beats']} N/L/R/V/A "
                 f"beats ({agreed['matched_other_beats']} reference beats of other classes left out)")
    print(line)
    out = args.out or Path(f"{recording.name}_beats.csv")
    table.insert(0, "record", recording.name)
    table.to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {len(table)} beats to {out}")
    return False


def run_folder(args: argparse.Namespace) -> bool:
    """Every WFDB record of a folder on Dask; True when any record failed (each named on stderr)."""
    from ecg import archive  # Dask is loaded only for folders: one record starts faster without it
    from ecg.errors import InputError

    headers = sorted(args.path.glob("*.hea"))
    if not headers:
        raise InputError("the folder holds no WFDB header (.hea); expected a folder of WFDB records")
    out_dir = args.out or Path("results") / args.path.resolve().name
    table = archive.analyse_archive(headers, out_dir, args.scheduler, args.workers, not args.no_context)
    counts = table["status"].value_counts()
    print(f"{len(table)} records: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "skipped", "failed"))
          + f"; results and {archive.SUMMARY_FILE} in {out_dir}")
    return bool(counts.get("failed", 0))


if __name__ == "__main__":
    main()
