"""Bundle branch block on patients of another recorder: PTB-XL's complete-block patients, out of fold.

    python -m measure.block_patients [--oof weights/oof.npz]

Reads training's out-of-fold answers (each beat answered by the fold model that never saw its patient, with the
shipped output offsets) and, for PTB-XL's L and R beats, prints the recall pooled over beats, the share of patients
whose beats are mostly right, and each patient's answers; also the same with PTB-XL left out of training altogether
(the leave-one-database-out model). Issue 41's target: recall 0.70 for each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ecg.labels import BEAT_CLASSES
from inference import OOF_FILE, WEIGHTS_DIR


def block_recall(labels: np.ndarray, patients: np.ndarray, probabilities: np.ndarray, block: str) -> dict:
    """Pooled recall of `block` beats, the share of their patients with most beats right, and per-patient counts."""
    rows = labels == block
    called = np.asarray(BEAT_CLASSES)[probabilities[rows].argmax(axis=1)]
    per_patient = {}
    for patient in np.unique(patients[rows]):
        mine = patients[rows] == patient
        per_patient[str(patient)] = {c: int((called[mine] == c).sum()) for c in BEAT_CLASSES}
    mostly_right = [p for p, counts in per_patient.items() if counts[block] > sum(counts.values()) / 2]
    return {"beats": int(rows.sum()), "recall": float(np.mean(called == block)) if rows.any() else float("nan"),
            "patients": len(per_patient), "mostly_right": len(mostly_right), "per_patient": per_patient}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.block_patients", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--oof", type=Path, default=WEIGHTS_DIR / OOF_FILE)
    args = p.parse_args()
    oof = np.load(args.oof)
    ptbxl = oof["databases"] == "ptbxl"
    for name, key in (("out of fold", "probabilities"), ("PTB-XL left out of training", "left_out_probabilities")):
        if key not in oof:
            continue
        for block in ("L", "R"):
            r = block_recall(oof["labels"][ptbxl], oof["patients"][ptbxl], oof[key][ptbxl], block)
            print(f"{name}, {block}: recall {r['recall']:.3f} over {r['beats']} beats; {r['mostly_right']} of "
                  f"{r['patients']} patients mostly right")
            for patient, counts in r["per_patient"].items():
                print(f"    {patient}: " + ", ".join(f"{c} {n}" for c, n in counts.items() if n))


if __name__ == "__main__":
    main()
