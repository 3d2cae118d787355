"""What the rhythm features do to false atrial premature calls, per training record, inside and outside atrial
fibrillation or flutter (issue 42, item 3).

    python -m measure.fibrillation_a [--weights weights]     # needs local MIT-BIH and SVDB copies

Every training beat of MIT-BIH DS1 and SVDB is answered out of fold (the context model fitted on the other patients'
rows, on the beat model's out-of-fold answers, as `training.train_context` judges candidates) by the shipped context
candidate and by the same candidate without the rhythm features. Per record with beats in fibrillation or flutter (from
the reference's rhythm notes: MIT-BIH's; SVDB's annotations carry none), and over all records: the beats called A
there and elsewhere that are not labelled A, and the A beats found.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import inference
from ecg import context
from training import train_context


def without_rhythm(candidate: tuple) -> tuple:
    """The same candidate reading every feature but the rhythm's."""
    parts = [part for part in candidate[0].split("+") if part != "rhythm"]
    return ("+".join(parts), *candidate[1:])


def false_a_table(data: dict, fibrillating: np.ndarray, answers: dict[str, np.ndarray]) -> list[str]:
    """Markdown rows per record with beats in fibrillation or flutter, then the totals over every record."""
    names = list(answers)
    header = ("| record | beats in AF/flutter | " + " | ".join(f"false A in AF/flutter ({n}) | false A elsewhere ({n}) "
                                                           f"| A found ({n})" for n in names) + " |")
    lines = [header, "|---|---:|" + "---:|" * 3 * len(names)]
    not_a, is_a = data["y"] != "A", data["y"] == "A"
    for name in [*np.unique(data["record"]), "all"]:
        rows = np.ones(len(data["y"]), dtype=bool) if name == "all" else data["record"] == name
        cells = []
        for labels in answers.values():
            called = rows & (labels == "A")
            cells += [int((called & not_a & fibrillating).sum()), int((called & not_a & ~fibrillating).sum()),
                      f"{int((called & is_a).sum())} of {int((rows & is_a).sum())}"]
        if name == "all" or (rows & fibrillating).any():
            lines.append(f"| {name} | {int((rows & fibrillating).sum())} | " + " | ".join(map(str, cells)) + " |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.fibrillation_a", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=inference.WEIGHTS_DIR)
    args = p.parse_args()
    shipped = context.shipped_params(args.weights)
    if shipped is None:
        raise SystemExit(f"No context model in {args.weights}: run `python -m training.train_context` first")
    data = train_context.out_of_fold_rows(args.weights)
    chosen = train_context.candidate_of(shipped)
    answers = {"beat model": train_context.labels_of(data["p"])}
    for name, candidate in (("shipped context", chosen), ("without rhythm", without_rhythm(chosen))):
        answers[name] = train_context.candidate_labels(data, candidate)
    print(f"Shipped context: {train_context.candidate_name(chosen)}; out of fold, {train_context.FOLDS} folds of "
          "whole patients.\n")
    print("\n".join(false_a_table(data, data["fibrillating"], answers)))


if __name__ == "__main__":
    main()
