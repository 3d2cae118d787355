"""Choose the app's example beats from MIT-BIH DS2 by a rule fixed before their answers were seen; write
assets/examples.json.

    python -m measure.pick_examples        # needs a local MIT-BIH copy (MITDB_DIR or ../shared/data/mitdb)

The rule: for each class, among DS2's beats of that class, the beat whose probability of its true class
(shipped weights) is the median; then the same among the beats of the other DS2 patients. A median beat is
what a user pasting a beat of that class should expect: half of that class's beats are answered more surely,
half less, and a class the model often misses shows a wrong answer.
"""

from __future__ import annotations

import numpy as np

import inference
from databases import mitbih
from ecg import examples
from ecg.labels import BEAT_CLASSES

RULE = ("for each class, the DS2 beat whose true-class probability is the median over DS2's beats of that class, "
        "then the same over the other DS2 patients' beats of that class")


def median_beat(probabilities: np.ndarray) -> int:
    """Index of the median (the lower one for an even count) of these probabilities."""
    order = np.argsort(probabilities, kind="stable")
    return int(order[(len(order) - 1) // 2])


def pick(labels: np.ndarray, records: np.ndarray, true_probability: np.ndarray) -> list[int]:
    """Row indices of the chosen beats: per class in BEAT_CLASSES order, its median beat, then the median beat of
    the other patients where there are any."""
    chosen = []
    for label in BEAT_CLASSES:
        rows = np.flatnonzero(labels == label)
        if len(rows) == 0:
            continue
        first = rows[median_beat(true_probability[rows])]
        chosen.append(int(first))
        others = rows[records[rows] != records[first]]
        if len(others):
            chosen.append(int(others[median_beat(true_probability[others])]))
    return chosen


def main() -> None:
    if not mitbih.has_data():
        raise SystemExit(f"MIT-BIH not found at {mitbih.default_data_dir()}: set MITDB_DIR to a local copy")
    beats = mitbih.load_beats(mitbih.DS2)
    probabilities = inference.predict_proba(beats.windows)
    true_probability = probabilities[np.arange(len(beats)), [inference.CLASSES.index(c) for c in beats.labels]]
    rows = pick(beats.labels, beats.records, true_probability)
    found = examples.from_local_copy([(str(beats.labels[i]), int(beats.records[i]), int(beats.peaks[i])) for i in rows])
    examples.write_examples(found, RULE)
    for i, e in zip(rows, found):
        answer = inference.CLASSES[int(np.argmax(probabilities[i]))]
        print(f"{e.title}: true-class probability {true_probability[i]:.2f}, answered {answer}")
    print(f"wrote {len(found)} examples to {examples.SHIPPED}")


if __name__ == "__main__":
    main()
