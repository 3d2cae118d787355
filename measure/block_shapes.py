"""Where bundle-branch-block beats go, patient by patient, beside what their median beat looks like in the lead the
model reads (issue 41, item 4).

    python -m measure.block_shapes [--oof weights/oof.npz]     # needs the training databases

For each training patient with L or R beats (MIT-BIH DS1 and PTB-XL; SVDB labels none), out of fold: the classes
the beat model gave their block beats, then the median block beat's QRS width (`labelled.shape_width_ms`, which
reads low against a cardiologist's onset-to-offset measure), and its terminal S wave: how deep it falls below the
baseline after the R-peak, in units of the R wave's height, and for how long it stays more than a tenth of that
height below it. A right bundle branch block shows a wide, slurred terminal S in leads I, aVL, V5 and V6, and in lead
II only sometimes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from databases import beatset
from databases.labelled import shape_width_ms
from ecg.detection import clean
from ecg.labels import BEAT_CLASSES
from ecg.preprocessing import SAMPLING_RATE
from inference import OOF_FILE, WEIGHTS_DIR

HALF_S = 0.25
BASELINE_S = 0.03  # the window's first 30 ms (220 to 250 ms before the R-peak) stand for the baseline
TERMINAL_S = 0.16  # how long after the R-peak a terminal S wave is looked for


def median_beat(signal: np.ndarray, peaks: np.ndarray) -> np.ndarray | None:
    """The median of the cleaned beats around `peaks` (R-peak in the middle), None where none fits."""
    half = round(HALF_S * SAMPLING_RATE)
    inside = peaks[(peaks >= half) & (peaks + half <= len(signal))]
    if len(inside) == 0:
        return None
    return np.median(clean(signal)[inside[:, None] + np.arange(-half, half)], axis=0)


def terminal_s(shape: np.ndarray) -> tuple[float, float]:
    """The terminal S wave of a median beat: depth below the baseline in R heights, and milliseconds more than a
    tenth of an R height below it. The beat is turned so that its R-peak points up."""
    half = len(shape) // 2
    baseline = shape[:round(BASELINE_S * SAMPLING_RATE)].mean()
    shape = (shape - baseline) * (1 if shape[half] >= baseline else -1)
    height = max(shape[half], 1e-9)
    after = shape[half:half + round(TERMINAL_S * SAMPLING_RATE)] / height
    return float(max(0.0, -after.min())), float((after < -0.1).sum() / SAMPLING_RATE * 1000)


def patient_rows(oof: dict, block: str) -> list[dict]:
    """Per training patient with `block` beats: database, beats, classes given out of fold, width and terminal S."""
    rows = []
    labels, called = oof["labels"], np.asarray(BEAT_CLASSES)[oof["probabilities"].argmax(axis=1)]
    for patient in np.unique(oof["patients"][labels == block]):
        mine = (oof["patients"] == patient) & (labels == block)
        shapes = []
        for database, record in sorted(set(zip(oof["databases"][mine].tolist(), oof["records"][mine].tolist()))):
            labelled = beatset.READERS[database].read(record)
            shape = median_beat(labelled.signal, labelled.peaks[labelled.labels == block])
            if shape is not None:
                shapes.append(shape)
        shape = np.median(shapes, axis=0) if shapes else None
        depth, length = terminal_s(shape) if shape is not None else (float("nan"), float("nan"))
        rows.append({"patient": str(patient), "database": str(oof["databases"][mine][0]), "beats": int(mine.sum()),
                     "called": {c: int((called[mine] == c).sum()) for c in BEAT_CLASSES},
                     "width_ms": shape_width_ms(shape) if shape is not None else float("nan"),
                     "s_depth": depth, "s_ms": length})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.block_shapes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--oof", type=Path, default=WEIGHTS_DIR / OOF_FILE)
    args = p.parse_args()
    oof = dict(np.load(args.oof))
    for block in ("L", "R"):
        rows = patient_rows(oof, block)
        print(f"\n{block} beats, out of fold\n")
        print("| patient | beats | recall | answers | QRS width (ms) | terminal S depth (R heights) "
              "| terminal S (ms) |")
        print("|---|---:|---:|---|---:|---:|---:|")
        for r in sorted(rows, key=lambda r: -r["called"][block] / r["beats"]):
            answers = ", ".join(f"{n} {c}" for c, n in r["called"].items() if n)
            print(f"| {r['patient']} | {r['beats']} | {r['called'][block] / r['beats']:.2f} | {answers} "
                  f"| {r['width_ms']:.0f} | {r['s_depth']:.2f} | {r['s_ms']:.0f} |")
        for database in ("mitdb", "ptbxl"):
            right = [r for r in rows if r["database"] == database and r["called"][block] > r["beats"] / 2]
            wrong = [r for r in rows if r["database"] == database and r["called"][block] <= r["beats"] / 2]
            for name, group in (("mostly right", right), ("mostly wrong", wrong)):
                if group:
                    print(f"{database} {block}, {name} ({len(group)} patients): median width "
                          f"{np.median([r['width_ms'] for r in group]):.0f} ms, terminal S depth "
                          f"{np.median([r['s_depth'] for r in group]):.2f}, "
                          f"{np.median([r['s_ms'] for r in group]):.0f} ms")


if __name__ == "__main__":
    main()
