"""Recording files as the app and the command line take them: a WFDB record (its MLII lead, or the channel asked
for) or a CSV/TXT of samples, checked and read a stretch at a time.

Apart from ecg/record.py, which analyses what these read, so that a file can be read, and a bad one refused,
before the model and the detector are imported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from ecg.errors import InputError

PREFERRED_LEAD = "MLII"  # the lead the model was trained on
MAX_UPLOAD_BYTES = 128 * 1024 * 1024  # a 24-hour two-lead format-212 record at 360 Hz is about 95 MB
WFDB_SUFFIXES = {".hea", ".dat", ".atr"}
TEXT_SUFFIXES = {".csv", ".txt"}
BITS_PER_SAMPLE = {"212": 12, "16": 16, "8": 8, "80": 8, "32": 32}


def lead_index(sig_names: list[str]) -> int:
    """MLII when the record has it; records 102 and 104 lack it and give their first lead."""
    return sig_names.index(PREFERRED_LEAD) if PREFERRED_LEAD in sig_names else 0


@dataclass(frozen=True)
class Recording:
    """One lead of a recording, with its reference annotation when there is one."""

    name: str
    signal: np.ndarray
    fs: float
    lead: str
    reference: wfdb.Annotation | None = None


@dataclass(frozen=True)
class WfdbSource:
    """One lead of a WFDB record whose header and data files were checked, read a stretch at a time."""

    base: Path
    channel: int
    lead: str
    fs: float
    n_samples: int

    @property
    def name(self) -> str:
        return self.base.name

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples start to stop of the lead, in physical units; only those are read from disk."""
        try:
            return wfdb.rdrecord(str(self.base), sampfrom=start, sampto=stop, channels=[self.channel]).p_signal[:, 0]
        except Exception as err:
            raise InputError(f"Record {self.name} could not be read: {err}") from err

    def reference(self) -> wfdb.Annotation | None:
        """The record's .atr annotation, when there is one."""
        if not self.base.with_suffix(".atr").is_file():
            return None
        try:
            return wfdb.rdann(str(self.base), "atr")
        except Exception as err:
            raise InputError(f"The annotation {self.name}.atr could not be read: {err}") from err


def open_wfdb(path: Path, channel: int | None = None) -> WfdbSource:
    """A WFDB record's MLII lead (or the channel asked for), once its header and data files are checked."""
    base = Path(path).with_suffix("") if Path(path).suffix in WFDB_SUFFIXES else Path(path)
    if not base.with_suffix(".hea").is_file():
        raise InputError(f"No header {base.name}.hea: a WFDB record needs its .hea and .dat files.")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as err:
        raise InputError(f"The header {base.name}.hea could not be read: {err}") from err
    names = list(header.sig_name or [])
    if channel is None:
        if PREFERRED_LEAD not in names and len(names) > 1:
            raise InputError(f"Record {base.name} has no MLII lead; choose a channel: "
                             + ", ".join(f"{i} ({n})" for i, n in enumerate(names)) + ".")
        channel = lead_index(names)
    if not 0 <= channel < len(names):
        raise InputError(f"Channel {channel} does not exist; record {base.name} has channels 0 to {len(names) - 1}.")
    dat_files = {base.parent / f for f in (header.file_name or [])}
    for dat in dat_files:
        if not dat.is_file():
            raise InputError(f"The data file {dat.name} named in {base.name}.hea is missing; "
                             "keep it beside the header.")
    expected = _expected_bytes(header)
    actual = sum(d.stat().st_size for d in dat_files)
    if expected is not None and actual < expected:
        raise InputError(f"{', '.join(sorted(d.name for d in dat_files))} holds {actual:,} bytes but "
                         f"{base.name}.hea describes {header.sig_len:,} samples ({expected:,} bytes): "
                         "the data file is truncated or does not belong to this header.")
    return WfdbSource(base, channel, names[channel], float(header.fs), int(header.sig_len or 0))


def read_wfdb(path: Path, channel: int | None = None) -> Recording:
    """A WFDB record's MLII lead (or the channel asked for), whole, with its .atr when present."""
    source = open_wfdb(path, channel)
    return Recording(source.name, source.read(0, source.n_samples), source.fs, source.lead, source.reference())


def _expected_bytes(header: wfdb.Record) -> int | None:
    """Bytes the header's data files must hold, for the common formats; None when unknown."""
    formats = header.fmt or []
    if not formats or any(f not in BITS_PER_SAMPLE for f in formats) or not header.sig_len:
        return None
    offsets = sum(int(o) for o in (header.byte_offset or []) if o)
    return int(np.ceil(header.sig_len * sum(BITS_PER_SAMPLE[f] for f in formats) / 8)) + offsets


def read_text(path: Path) -> np.ndarray:
    """One column of samples from a CSV or TXT file; a header row is allowed."""
    text = Path(path).read_text(errors="replace")
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"{Path(path).name} is empty: expected one column of samples.")
    values = []
    for line, row in enumerate(rows, start=1):
        cell = row[0].strip()
        try:
            values.append(float(cell))
        except ValueError:
            if line == 1:
                continue
            raise InputError(f"{Path(path).name}, row {line}: '{cell[:20]}' is not a number. "
                             "Expected one column of samples, with at most one header row.") from None
    return np.asarray(values)


@dataclass(frozen=True)
class ArraySource:
    """A CSV/TXT's samples kept on disk as .npy and read a stretch at a time through a memory map, so that what
    the app keeps of a recording between a slider's moves is a path, not the samples."""

    path: Path
    name: str
    lead: str
    fs: float
    n_samples: int

    def read(self, start: int, stop: int) -> np.ndarray:
        try:
            return np.array(np.load(self.path, mmap_mode="r")[start:stop], dtype=np.float64)
        except (OSError, ValueError) as err:
            raise InputError(f"The samples of {self.name} could not be read again ({type(err).__name__}): "
                             "upload the file again.") from err

    def reference(self) -> None:
        return None


Source = WfdbSource | ArraySource


def open_uploads(paths: list[str | Path], fs: float | None, channel: int | None, folder: Path) -> Source:
    """Uploaded files as a source read a stretch at a time: a WFDB record's .hea and .dat (and .atr), linked
    together into `folder`, or one CSV/TXT, parsed once into `folder`. The caller owns `folder` and removes it."""
    files = [Path(p) for p in paths or []]
    if not files:
        raise InputError("No file uploaded. Upload a WFDB record (.hea and .dat, optionally .atr) or one CSV/TXT.")
    total = sum(f.stat().st_size for f in files)
    if total > MAX_UPLOAD_BYTES:
        raise InputError(f"The upload is {total / 2**20:.1f} MB, over the limit of {MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
    suffixes = {f.suffix.lower() for f in files}
    if suffixes & TEXT_SUFFIXES:
        if len(files) != 1:
            raise InputError("Upload one CSV/TXT file at a time, or a WFDB record's .hea and .dat files.")
        recording = read_file(files[0], fs, channel)
        np.save(folder / "samples.npy", np.asarray(recording.signal, dtype=np.float64))
        return ArraySource(folder / "samples.npy", recording.name, recording.lead, recording.fs,
                           len(recording.signal))
    unknown = suffixes - WFDB_SUFFIXES
    if unknown:
        raise InputError(f"Files of type {', '.join(sorted(unknown))} are not read. Upload a WFDB record "
                         "(.hea, .dat, optionally .atr) or a CSV/TXT with one column of samples.")
    headers = [f for f in files if f.suffix.lower() == ".hea"]
    if len(headers) != 1:
        raise InputError(f"Found {len(headers)} .hea files; upload exactly one WFDB record (its .hea and .dat).")
    for f in files:  # each upload arrives in a folder of its own; WFDB reads a record's files from one
        (folder / f.name).unlink(missing_ok=True)
        (folder / f.name).symlink_to(f.resolve())
    return open_wfdb(folder / headers[0].name, channel)


def lead_names(paths: list[str | Path]) -> list[str]:
    """The signal names of the one WFDB header among these files; none when there is no readable one."""
    headers = [Path(p) for p in paths or [] if Path(p).suffix.lower() == ".hea"]
    if len(headers) != 1:
        return []
    try:
        return list(wfdb.rdheader(str(headers[0].with_suffix(""))).sig_name or [])
    except Exception:
        return []


def read_file(path: Path, fs: float | None, channel: int | None) -> Recording:
    """A CSV/TXT of samples at `fs`, or a WFDB record's MLII lead (or `channel`), read whole."""
    path = Path(path)
    if path.suffix.lower() in TEXT_SUFFIXES:
        if not path.is_file():
            raise InputError(f"No file {path}: expected a CSV/TXT with one column of samples.")
        if fs is None:
            raise InputError(f"{path.name} holds bare samples: state their sampling rate in Hz.")
        return Recording(path.stem, read_text(path), fs, "column 1")
    return read_wfdb(path, channel)
