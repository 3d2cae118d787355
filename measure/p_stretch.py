"""What the beat model reads to tell a PVC from a bundle branch block beat: does it use the stretch before the QRS,
where a conducted beat has its P wave and a PVC usually has none?

    python -m measure.p_stretch        # needs a local MIT-BIH copy

For MIT-BIH DS1's beats of each class (training patients: this asks how the network reads, not how well), it
prints the share of answers that change when the stretch from 250 to 70 ms before the R-peak is replaced by a
straight line between its ends, and the share of each class's Grad-CAM mass that falls in that stretch.
"""

from __future__ import annotations

import numpy as np
import torch

import inference
from databases import mitbih
from ecg.labels import BEAT_CLASSES
from ecg.preprocessing import SAMPLING_RATE, WINDOW_BEFORE, preprocess

STRETCH_S = (-0.25, -0.07)
PER_CLASS = 2000


def straightened(windows: np.ndarray) -> np.ndarray:
    """The windows with the P-wave stretch replaced by a straight line between its ends."""
    start, stop = (WINDOW_BEFORE + round(t * SAMPLING_RATE) for t in STRETCH_S)
    out = windows.astype(np.float64).copy()
    out[:, start:stop] = np.linspace(out[:, start], out[:, stop - 1], stop - start, axis=1)
    return out


def cam_share(windows: np.ndarray) -> float:
    """The mean share of Grad-CAM mass (over the last block, for the answered class) in the P-wave stretch."""
    model = inference.shipped_model().model
    start, stop = (WINDOW_BEFORE + round(t * SAMPLING_RATE) for t in STRETCH_S)
    x = torch.from_numpy(preprocess(windows))
    with torch.no_grad():
        features = model.features(x.unsqueeze(1))
    features.requires_grad_(True)
    _, logits = model.classify(features)
    top = logits.argmax(dim=1)
    (gradient,) = torch.autograd.grad(logits[torch.arange(len(x)), top].sum(), features)
    cam = torch.relu((gradient.mean(dim=2, keepdim=True) * features).sum(dim=1)).detach().numpy()
    cells = np.interp(np.arange(windows.shape[1]), (np.arange(cam.shape[1]) + 0.5) * windows.shape[1] / cam.shape[1],
                      np.arange(cam.shape[1])).round().astype(int)
    per_sample = cam[:, cells]
    return float(np.mean(per_sample[:, start:stop].sum(axis=1) / np.maximum(per_sample.sum(axis=1), 1e-12)))


def main() -> None:
    if not mitbih.has_data():
        raise SystemExit(f"MIT-BIH not found at {mitbih.default_data_dir()}: set MITDB_DIR to a local copy")
    beats = mitbih.load_beats(mitbih.DS1)
    rng = np.random.default_rng(0)
    print(f"weights {inference.shipped_model().metadata['weights_sha256'][:12]}; MIT-BIH DS1, up to {PER_CLASS} beats "
          f"a class; stretch {STRETCH_S[0] * 1000:.0f} to {STRETCH_S[1] * 1000:.0f} ms before the R-peak")
    print("| class | beats | answers changed by a straight stretch | Grad-CAM mass in the stretch |")
    print("|---|---:|---:|---:|")
    for label in BEAT_CLASSES:
        rows = np.flatnonzero(beats.labels == label)
        rows = rng.choice(rows, min(PER_CLASS, len(rows)), replace=False)
        windows = beats.windows[rows]
        before = inference.predict_proba(windows).argmax(axis=1)
        after = inference.predict_proba(straightened(windows)).argmax(axis=1)
        print(f"| {label} | {len(rows)} | {np.mean(before != after):.3f} | {cam_share(windows):.3f} |")


if __name__ == "__main__":
    main()
