"""Classify beats with the shipped weights: parse and validate input, predict, explain.

The weights are loaded once, without pickle (safetensors, or a state dict read
with ``torch.load(weights_only=True)``), and only after their sha256 and
settings agree with the metadata written beside them by ``train.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ecg import typicality
from ecg.errors import InputError, WeightsError
from ecg.labels import AAMI_GROUP, BEAT_CLASSES, CLASS_NAMES
from ecg.preprocessing import BEAT_LENGTH, PREPROCESSING, SAMPLING_RATE, WINDOW_BEFORE, preprocess
from model import ECGCNN

CLASSES = BEAT_CLASSES
WEIGHTS_DIR = Path(os.environ.get("ECG_WEIGHTS_DIR", Path(__file__).resolve().parent / "weights"))
METADATA_FILE = "ecgcnn.json"
OOF_FILE = "oof.npz"  # written beside the weights by training; never committed: it holds reference annotations
MAX_INPUT_CHARS = 20_000
MAX_ABS_VALUE = 1e9
LOW_CONFIDENCE = 0.6
# Batches of 128 to 512 beats run twice as fast as 4,096 here (record 100's 2,272 beats: about 0.2 s
# against 0.4 s): their activations stay in the CPU's cache.
BATCH_SIZE = 256
EXPECTED_INPUT = (f"{BEAT_LENGTH} numbers separated by commas, spaces, semicolons or new lines: one beat of "
                  f"lead MLII sampled at {SAMPLING_RATE} Hz, R-peak at sample {WINDOW_BEFORE + 1}, in any linear unit "
                  "(mV, µV or ADC units)")
# Each digit can belong to one part only, so a long bad token is refused in linear time (with `\d+\.?\d*`,
# 20,000 digits and a letter took 15 s).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,;\s]+")
_NUMBERS_ONLY = re.compile(rf"(?>{_NUMBER.pattern})(?:{_SEPARATORS.pattern}(?>{_NUMBER.pattern}))*")


@dataclass(frozen=True)
class LoadedModel:
    model: ECGCNN
    metadata: dict


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only: safetensors, or torch.load restricted to weights."""
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path} is not a safe weights file: {err}") from err


def load_model(weights_dir: Path = WEIGHTS_DIR) -> LoadedModel:
    """Weights and metadata from a folder, checked against each other and this code; the model comes
    with its BatchNorm folded into the convolutions (ECGCNN.fold_batchnorm), so it serves inference only."""
    meta_path = Path(weights_dir) / METADATA_FILE
    if not meta_path.is_file():
        raise WeightsError(f"No {METADATA_FILE} in {weights_dir}: train a model with `python -m training.train` "
                           "or restore weights/.")
    meta = json.loads(meta_path.read_text())
    expected = {"classes": list(CLASSES), "beat_length": BEAT_LENGTH, "sampling_rate": SAMPLING_RATE,
                "r_peak_index": WINDOW_BEFORE, "preprocessing": PREPROCESSING}
    for key, value in expected.items():
        if meta.get(key) != value:
            raise WeightsError(f"Metadata {key} is {meta.get(key)!r} but this code expects {value!r}.")
    weights_path = Path(weights_dir) / meta["weights_file"]
    if not weights_path.is_file():
        raise WeightsError(f"Weights file {weights_path} is missing.")
    if _sha256(weights_path) != meta["weights_sha256"]:
        raise WeightsError(f"{weights_path} does not match the sha256 in {meta_path}: "
                           "the file was changed or corrupted.")
    model = ECGCNN(**meta["model_config"])
    try:
        model.load_state_dict(_read_state_dict(weights_path))
    except RuntimeError as err:
        raise WeightsError(f"{weights_path} does not fit ECGCNN{meta['model_config']}: {err}") from err
    return LoadedModel(model.fold_batchnorm(), meta)


@cache
def shipped_model() -> LoadedModel:
    """The shipped weights, loaded on first use and kept."""
    return load_model()


def parse_beat(text: str) -> np.ndarray:
    """Text of one pasted beat -> (180,) float array, or InputError saying why not."""
    if text is None or not text.strip():
        raise InputError(f"No samples given. Paste {EXPECTED_INPUT}.")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(f"Input is {len(text):,} characters, over the limit of {MAX_INPUT_CHARS:,}. "
                         f"Paste only one beat: {EXPECTED_INPUT}.")
    text = text.strip()
    if _NUMBERS_ONLY.fullmatch(text):
        # The usual paste, converted at once: a third of the time of the checks below, which name the bad value.
        values = np.array(_SEPARATORS.split(text), dtype=float)
        if np.all(np.isfinite(values)):
            return check_beat(_counted(values))
    tokens = [t for t in _SEPARATORS.split(text) if t]
    values = []
    for position, token in enumerate(tokens, start=1):
        if _NOT_FINITE.fullmatch(token):
            raise InputError(f"Value {position} is '{token}', which is not a finite number. "
                             "Every sample must be a real number.")
        if not _NUMBER.fullmatch(token):
            shown = token if len(token) <= 20 else token[:20] + "…"
            raise InputError(f"Value {position} is '{shown}', which is not a number. Expected {EXPECTED_INPUT}.")
        value = float(token)
        if not np.isfinite(value):
            raise InputError(f"Value {position} is '{token}', too large to be a finite number. "
                             "Every sample must be a real number.")
        values.append(value)
    return check_beat(_counted(np.asarray(values)))


def _counted(values: np.ndarray) -> np.ndarray:
    if len(values) != BEAT_LENGTH:
        raise InputError(f"Found {len(values)} numbers; a beat needs exactly {BEAT_LENGTH} "
                         f"({BEAT_LENGTH / SAMPLING_RATE:.1f} s at {SAMPLING_RATE} Hz, R-peak at sample "
                         f"{WINDOW_BEFORE + 1}). The app does not pad, trim or resample.")
    return values


def check_beat(beat: np.ndarray) -> np.ndarray:
    """Refuse values that are not finite, absurdly large, or a flat line."""
    if not np.all(np.isfinite(beat)):
        raise InputError("The beat contains NaN or infinite values. Every sample must be a real number.")
    peak = np.abs(beat).max()
    if peak > MAX_ABS_VALUE:
        raise InputError(f"A sample is {peak:.3g}, beyond ±{MAX_ABS_VALUE:.0e}. Use mV, µV or ADC units.")
    if np.ptp(beat) <= max(1e-9 * peak, 1e-12):
        raise InputError("The beat is flat: all samples are (nearly) equal, so there is no waveform to classify.")
    return beat


def _as_batch(beats: np.ndarray) -> np.ndarray:
    beats = np.asarray(beats, dtype=np.float64)
    if beats.ndim == 1:
        beats = beats[None]
    if beats.ndim != 2 or beats.shape[1] != BEAT_LENGTH:
        raise InputError(f"Beats must have shape (n, {BEAT_LENGTH}) or ({BEAT_LENGTH},); got {beats.shape}.")
    if not np.all(np.isfinite(beats)):
        raise InputError("Beats contain NaN or infinite values. Every sample must be a real number.")
    return beats


def predict_proba(beats: np.ndarray) -> np.ndarray:
    """(n, 180) or (180,) beats in any linear unit -> (n, 5) probabilities in CLASSES order."""
    return predict_preprocessed(preprocess(_as_batch(beats)))


def predict_preprocessed(x: np.ndarray, model: ECGCNN | None = None) -> np.ndarray:
    """(n, 180) beats already through preprocess() -> (n, 5) probabilities: for callers that need the
    preprocessed beats too (record mode's shape features), so a beat is prepared once. `model`: the
    shipped one unless given (bench.py times one member of the ensemble this way)."""
    return predict_with_hidden(x, shipped_model().model if model is None else model)[0]


def predict_with_hidden(x: np.ndarray, model: ECGCNN) -> tuple[np.ndarray, np.ndarray]:
    """`predict_preprocessed`'s probabilities and the hidden layer they were read from (what the atypical
    warning measures), from one pass."""
    probabilities, hidden = [], []
    with torch.inference_mode():
        for i in range(0, len(x), BATCH_SIZE):
            features, logits = model.classify(model.features(torch.from_numpy(x[i:i + BATCH_SIZE]).unsqueeze(1)))
            probabilities.append(torch.softmax(logits, dim=1).double().numpy())
            hidden.append(features.numpy())
    if not probabilities:
        return np.zeros((0, len(CLASSES))), np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(probabilities), np.concatenate(hidden)


@dataclass(frozen=True)
class Explanation:
    """One beat's class, probabilities, what drove the decision and whether to trust it."""

    label: str
    probabilities: dict[str, float]
    saliency: np.ndarray  # (180,) in [0, 1]: Grad-CAM over the last convolution block
    atypicality: float
    atypical: bool
    right_share: float | None  # how often this call was right on patients the model never trained on (out of fold)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    @property
    def name(self) -> str:
        return CLASS_NAMES[self.label]

    @property
    def aami_group(self) -> str:
        return AAMI_GROUP[self.label]

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


def right_share(metadata: dict, label: str) -> float | None:
    """The share of the model's `label` calls that were right out of fold, on training patients each answered by a
    fold model that never saw them; None where training did not measure it."""
    confidence = metadata["cross_validation"].get("confidence")
    return confidence["all"]["per_call"][label]["right"] if confidence else None


def explain(beat: np.ndarray) -> Explanation:
    """Classify one beat and show, with Grad-CAM, which samples drove the decision."""
    loaded = shipped_model()
    model = loaded.model
    x = torch.from_numpy(preprocess(_as_batch(beat)[:1]))
    with torch.no_grad():  # the gradient is needed from the last block on only
        features = model.features(x.unsqueeze(1))
    features.requires_grad_(True)
    hidden, logits = model.classify(features)
    probabilities = torch.softmax(logits, dim=1)[0].detach().double().numpy()
    top = int(probabilities.argmax())
    (gradient,) = torch.autograd.grad(logits[0, top], features)
    cam = torch.relu((gradient.mean(dim=2, keepdim=True) * features).sum(dim=1))[0].detach().numpy()
    cell = BEAT_LENGTH / len(cam)
    saliency = np.interp(np.arange(BEAT_LENGTH), (np.arange(len(cam)) + 0.5) * cell, cam)
    saliency = saliency / saliency.max() if saliency.max() > 0 else saliency
    distance = float(typicality.distance(hidden.detach().numpy(), loaded.metadata["typicality"])[0])
    return Explanation(
        label=CLASSES[top],
        probabilities={c: float(p) for c, p in zip(CLASSES, probabilities)},
        saliency=saliency,
        atypicality=distance,
        atypical=distance > loaded.metadata["typicality"]["threshold"],
        right_share=right_share(loaded.metadata, CLASSES[top]),
    )
