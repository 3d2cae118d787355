"""Example beats for the app, from MIT-BIH DS2 patients, shipped in assets/examples.json.

The beats are shipped so that the app has examples on a fresh start or a Space with no data folder
(MIT-BIH is under ODC-By; assets/EXAMPLES.md attributes it). Which beats they are follows a rule written
before their answers were looked at (`measure.pick_examples`): for each class, the beat whose true-class
probability is the median over DS2's beats of that class, then the same over the other patients' beats,
so that the examples show a user what to expect, right and wrong. `from_local_copy` cuts the same beats
from a local MIT-BIH copy (``MITDB_DIR`` or ``../shared/data/mitdb``): how they were made, and checked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from databases import mitbih
from ecg.labels import CLASS_NAMES
from ecg.preprocessing import BEAT_LENGTH, SAMPLING_RATE, cut_windows

SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "examples.json"
CAPTION = ("Beats of MIT-BIH DS2 patients the model never trained on, two per class where DS2 has them, each its "
           "class's median beat by the model's probability: expect some to be wrong. MIT-BIH Arrhythmia Database, "
           "ODC-By, via PhysioNet.")


@dataclass(frozen=True)
class Example:
    label: str
    record: int
    sample: int
    beat: np.ndarray

    @property
    def title(self) -> str:
        return (f"{self.label} ({CLASS_NAMES[self.label]}): record {self.record}, "
                f"{self.sample / SAMPLING_RATE:.1f} s")

    def as_text(self) -> str:
        return ", ".join(f"{v:.3f}" for v in self.beat)


def load_examples(path: Path = SHIPPED) -> tuple[list[Example], str]:
    """The shipped example beats and a caption, or none and why (the app starts either way)."""
    try:
        rows = json.loads(Path(path).read_text())["examples"]
        found = [Example(r["label"], int(r["record"]), int(r["sample"]), np.asarray(r["beat"], dtype=np.float32))
                 for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [], f"No examples: {Path(path).name} could not be read ({type(err).__name__})."
    if any(len(e.beat) != BEAT_LENGTH or e.label not in CLASS_NAMES for e in found):
        return [], f"No examples: {Path(path).name} holds a beat that is not {BEAT_LENGTH} samples of a known class."
    return found, CAPTION


def from_local_copy(chosen: list[tuple[str, int, int]], data_dir: Path | None = None) -> list[Example]:
    """These (label, record, R-peak sample) beats cut from a local MIT-BIH copy, as training cuts beats."""
    found = []
    for label, record, sample in chosen:
        signal, _, _ = mitbih.read_record(record, data_dir)
        found.append(Example(label, record, sample, cut_windows(signal, np.array([sample]))[0]))
    return found


def write_examples(found: list[Example], rule: str, path: Path = SHIPPED) -> None:
    """The examples as the app reads them, with the rule that chose them."""
    rows = [{**asdict(e), "beat": [round(float(v), 3) for v in e.beat]} for e in found]
    Path(path).write_text(json.dumps({"source": "MIT-BIH Arrhythmia Database (PhysioNet), ODC-By 1.0; see "
                                                "assets/EXAMPLES.md", "rule": rule, "examples": rows}, indent=1) + "\n")
