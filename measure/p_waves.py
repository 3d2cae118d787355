"""How record mode's P-wave measure reads MIT-BIH DS1's beats: where a P wave is expected (normal beats in sinus
rhythm), where another one is (atrial premature beats), and where none is (ventricular beats, beats in atrial
fibrillation or flutter).

    python -m measure.p_waves        # needs a local MIT-BIH copy

Per group: beats, the median correlation of the beat's P-wave stretch with its record's sinus P wave, the share
above 0.5, and the median log spread ratio (about 0 where the stretch holds a P wave like the sinus beats').
"""

from __future__ import annotations

import numpy as np

from databases import mitbih
from ecg import context, record
from ecg.labels import BEAT_SYMBOLS
from ecg.preprocessing import preprocess


def main() -> None:
    if not mitbih.has_data():
        raise SystemExit(f"MIT-BIH not found at {mitbih.default_data_dir()}: set MITDB_DIR to a local copy")
    groups: dict[str, list[np.ndarray]] = {"N in sinus rhythm": [], "A": [], "V": [], "any beat in AF or flutter": []}
    for number in mitbih.DS1:
        signal, ann, _ = mitbih.read_record(number)
        symbols, samples, rhythm = np.asarray(ann.symbol), np.asarray(ann.sample), mitbih.rhythm_at(ann)
        beats = np.isin(symbols, BEAT_SYMBOLS)
        symbols, samples, rhythm = symbols[beats], samples[beats], rhythm[beats]
        x = context.p_wave_features(preprocess(record.beat_windows(signal, samples)), samples, 360)
        fibrillating = np.isin(rhythm, mitbih.FIBRILLATION)
        groups["N in sinus rhythm"].append(x[(symbols == "N") & (rhythm == "(N")])
        groups["A"].append(x[(symbols == "A") & ~fibrillating])
        groups["V"].append(x[symbols == "V"])
        groups["any beat in AF or flutter"].append(x[fibrillating])
    print("| MIT-BIH DS1 beats | beats | median P correlation | share above 0.5 | median log spread ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, parts in groups.items():
        x = np.concatenate(parts)
        print(f"| {name} | {len(x)} | {np.median(x[:, 0]):.2f} | {np.mean(x[:, 0] > 0.5):.2f} | "
              f"{np.median(x[:, 1]):+.2f} |")


if __name__ == "__main__":
    main()
