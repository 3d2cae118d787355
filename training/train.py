"""Train ECGCNN on every training patient, choosing by patient-wise cross-validation.

    python -m training.train                        # cross-validation, leave-one-database-out, shipped weights
    python -m training.train --quick --out /tmp/q   # a few records, one epoch: a smoke test under a minute

Training patients: MIT-BIH DS1, the SVDB records and the PTB-XL records a rule labels.
1. Patient-wise cross-validation: folds of whole patients, each holding L and R patients.
   Every fold model trains on the same schedule; the number of epochs is chosen by the
   out-of-fold macro-F1 with each database weighing the same, and the out-of-fold predictions at
   that epoch are kept.
   Each fold trains `--members` networks that differ only in their seed (initial weights, beat
   draws, augmentation); a candidate is one member alone or their ensemble (mean logits).
2. Leave-one-database-out: without SVDB (scored on SVDB), without PTB-XL (scored on PTB-XL).
3. The shipped model: every training patient, the chosen number of epochs and members, packed
   into one ECGCNN.
MIT-BIH DS2 is never read here: `python -m measure.evaluate` scores it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.model_selection import StratifiedKFold
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from databases import beatset, mitbih
from ecg import evaluation, typicality
from ecg.labels import BEAT_CLASSES
from ecg.preprocessing import BEAT_LENGTH, PREPROCESSING, SAMPLING_RATE, WINDOW_BEFORE, preprocess
from inference import LOW_CONFIDENCE, METADATA_FILE, OOF_FILE, WeightsError
from model import DILATIONS, ECGCNN, POOLINGS, WIDTHS, pack
from training import adversary, augment, mix_style, noise_check
from training.origin_loss import origin_loss

WEIGHTS_FILE = "ecgcnn.safetensors"
# The chosen candidate's fold models, beside the weights and, like oof.npz, not committed.
FOLDS_FILE = "folds.safetensors"
QUICK_SOURCES = {"mitdb": ["109", "118", "209", "106", "207", "220"], "svdb": ["800", "821"],
                 "ptbxl": ["180", "172", "279", "424", "1", "2"]}
# Databases left out in turn: the model trained on the rest is scored on the one left out.
LEFT_OUT = ("svdb", "ptbxl")
TYPICALITY_SAMPLE = 20_000
# Within a class and database, a patient weighs count^(1 - balance): 1, every patient the same; 0, every beat.
PATIENT_BALANCES = (1.0,)
# Weighing patients across databases let PTB-XL's 283 normal patients give 84% of N draws while A and V came
# from the Holter databases: a recorder's look then told the class (out-of-fold macro-F1 0.25 to 0.35).
# So databases weigh the same within a class; PTB-XL's 10 V and 5 A beats get a small share.
FULL_SHARE_BEATS = 200
OFFSET_GRID = np.round(np.arange(-4.0, 4.01, 0.25), 2)
OFFSET_ROUNDS = 2
WORKERS = 2
# Macro-F1 paid per unit of held-out accuracy lost to noise beyond the targets (runs 10, 12 and 14).
NOISE_PENALTY = 5.0
# The weights cross-validation can ship at each scored epoch: the network as trained, or the running
# average of its weights (an exponential moving average over the last few hundred steps).
WEIGHT_KINDS = ("last", "averaged")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a trained model besides its data."""

    epochs: int = 14
    epoch_size: int = 14_000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.05
    patient_balance: float = 1.0  # within a class, a patient weighs count^(1 - patient_balance)
    class_prior: float = 0.5  # a class is drawn in proportion to its count^class_prior
    adversary_weight: float = 0.0  # strength of the patient adversary's reversed gradient (0: none)
    database_adversary: float = 0.0  # strength of a database adversary's reversed gradient (0: none)
    lead_views: float = 0.0  # share of PTB-XL draws shown in one of ptbxl.VIEW_LEADS instead of lead II
    full_share_beats: int = FULL_SHARE_BEATS  # beats of a class from which a database gets a full share of it
    stretch_spares_s: float = 0.0  # the augmentation's time stretch leaves this much either side of the R-peak
    mix_patients: float = 0.0  # share of drawn beats blended with a beat of their class from another patient
    recorder_share: float = 0.0  # share of drawn beats passed through another recorder's analogue filters
    mix_style: float = 0.0  # chance per batch that the first blocks' feature statistics are mixed within a class
    origin_loss: float = 0.0  # weight of a loss on the beat's AAMI group beside the loss on its class (0: none)
    kernel_size: int = 7
    widths: tuple[int, ...] = WIDTHS
    dilations: tuple[int, ...] = DILATIONS
    pooling: str = "flatten"
    ema_decay: float = 0.995  # per step: an average over the last ~1 / (1 - decay) steps
    seed: int = 0

    @property
    def draws(self) -> str:
        views = f", lead views {self.lead_views:g}" if self.lead_views else ""
        share = f", full share from {self.full_share_beats} beats" if self.full_share_beats != FULL_SHARE_BEATS else ""
        spared = f", stretch spares {self.stretch_spares_s:g} s" if self.stretch_spares_s else ""
        mixed = f", patients mixed {self.mix_patients:g}" if self.mix_patients else ""
        recorders = f", recorder filters {self.recorder_share:g}" if self.recorder_share else ""
        databases = f", database adversary {self.database_adversary:g}" if self.database_adversary else ""
        styles = f", mix style {self.mix_style:g}" if self.mix_style else ""
        origin = f", origin loss {self.origin_loss:g}" if self.origin_loss else ""
        return (f"patient balance {self.patient_balance:g}, class prior {self.class_prior:g}, "
                f"adversary {self.adversary_weight:g}{databases}{views}{share}{spared}{mixed}{recorders}{styles}"
                f"{origin}")

    @property
    def augmentation(self) -> augment.Settings:
        return augment.Settings(stretch_spares_s=self.stretch_spares_s, recorder_share=self.recorder_share)

    @property
    def model_config(self) -> dict:
        return {"n_classes": len(BEAT_CLASSES), "beat_length": BEAT_LENGTH, "kernel_size": self.kernel_size,
                "widths": list(self.widths), "dilations": list(self.dilations), "pooling": self.pooling}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=Recipe.epochs, help="epochs of every schedule")
    p.add_argument("--epoch-size", type=int, default=Recipe.epoch_size, help="beats drawn per epoch")
    p.add_argument("--patient-balance", type=float, nargs="+", default=list(PATIENT_BALANCES),
                   help="candidates, chosen by cross-validation: 1, every patient of a class weighs the same; "
                        "0, every beat does")
    p.add_argument("--class-prior", type=float, nargs="+", default=[Recipe.class_prior],
                   help="candidates, chosen by cross-validation: a class is drawn in proportion to its beat count "
                        "to this power (0, every class equally often; 1, as often as it occurs)")
    p.add_argument("--adversary", type=float, nargs="+", default=[Recipe.adversary_weight],
                   help="candidates, chosen by cross-validation: strength of a patient adversary's reversed "
                        "gradient (training/adversary.py; 0, none)")
    p.add_argument("--database-adversary", type=float, default=Recipe.database_adversary, metavar="STRENGTH",
                   help="strength of a second adversary's reversed gradient, one that guesses the database (the "
                        "recorder) from the hidden layer, told the beat's class (training/adversary.py; 0, none)")
    p.add_argument("--lead-views", type=float, nargs="+", default=[Recipe.lead_views],
                   help="candidates, chosen by cross-validation: share of PTB-XL draws shown as lead I, aVF or "
                        "V5 saw the beat instead of lead II (0, never)")
    p.add_argument("--full-share-beats", type=int, default=FULL_SHARE_BEATS,
                   help="within a class, a database with this many beats of it weighs as much as any other; one "
                        "with fewer, proportionally less")
    p.add_argument("--stretch-spares", type=float, default=Recipe.stretch_spares_s, metavar="SECONDS",
                   help="the augmentation's time stretch leaves this much either side of the R-peak (the QRS) as it "
                        "is (0: the whole beat stretches)")
    p.add_argument("--mix-patients", type=float, default=Recipe.mix_patients, metavar="SHARE",
                   help="share of drawn beats blended with a beat of the same class from another patient, so that "
                        "training sees patients between those it has (0: none)")
    p.add_argument("--recorder-filters", type=float, default=Recipe.recorder_share, metavar="SHARE",
                   help="share of drawn beats passed through another recorder's causal low-pass (25 to 100 Hz) and "
                        "high-pass (0.05 to 1 Hz), so that a beat's shape tells its class, not its recorder (0: none)")
    p.add_argument("--mix-style", type=float, default=Recipe.mix_style, metavar="CHANCE",
                   help="chance per batch that, after each of the first two blocks, every beat's feature statistics "
                        "are mixed with another beat's of its class (training/mix_style.py; 0: never)")
    p.add_argument("--origin-loss", type=float, default=Recipe.origin_loss, metavar="WEIGHT",
                   help="weight of a loss on the beat's AAMI group (N, L and R together; V; A) beside the loss on its "
                        "class, so that calling a PVC a block costs more than calling a block normal "
                        "(training/origin_loss.py; 0: none)")
    p.add_argument("--ema-decay", type=float, default=Recipe.ema_decay,
                   help="per-step decay of the weight average that cross-validation may ship instead")
    p.add_argument("--widths", type=int, nargs=4, default=list(WIDTHS), help="filters of the four blocks")
    p.add_argument("--kernel-size", type=int, default=Recipe.kernel_size, help="samples each convolution spans")
    p.add_argument("--dilations", type=int, nargs=4, default=list(DILATIONS),
                   help="spacing of each block's kernel taps (1: adjacent samples)")
    p.add_argument("--pooling", choices=POOLINGS, default=Recipe.pooling,
                   help="how the head reads the last block: flattened, or averaged over time")
    p.add_argument("--members", type=int, default=1,
                   help="networks per fold, seeds SEED, SEED+1, ...: cross-validation compares the first alone "
                        "with the ensemble of all (each member adds a cross-validation's time)")
    p.add_argument("--noise-penalty", type=float, default=NOISE_PENALTY,
                   help="database-balanced macro-F1 the offset search and the epoch choice pay per unit of "
                        "out-of-fold accuracy lost to noise beyond the targets; the search then ends with the "
                        "targets as a limit (0: measured, not used)")
    p.add_argument("--price-placement", action="store_true",
                   help="the noise penalty (and limit) also applies to macro-F1 lost with the R-peak moved by "
                        "+-10 samples beyond 0.02 (+-20 is measured only; without it, every move is)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("weights"), help="folder for weights, metadata and report")
    p.add_argument("--quick", action="store_true", help="a few records, two folds, one short epoch")
    args = p.parse_args()
    if args.quick:
        args.folds, args.epochs, args.epoch_size = 2, 2, 1024
        args.patient_balance, args.class_prior = args.patient_balance[:1], args.class_prior[:1]
        args.adversary, args.lead_views = args.adversary[:1], args.lead_views[:1]
    return args


def label_indices(labels: np.ndarray) -> np.ndarray:
    """Class symbols -> output indices in BEAT_CLASSES order."""
    index = {c: i for i, c in enumerate(BEAT_CLASSES)}
    return np.array([index[c] for c in labels], dtype=np.int64)


def draw_weights(labels: np.ndarray, patients: np.ndarray, databases: np.ndarray,
                 patient_balance: float, class_prior: float = 0.0,
                 full_share_beats: int = FULL_SHARE_BEATS) -> np.ndarray:
    """Probability of drawing each beat: a class weighs count^class_prior (0, every class the same; 1, as
    often as it occurs); within a class, every database with
    `full_share_beats` beats of it weighs the same (one with fewer, proportionally less), so that no
    recorder marks a class; within a database, a patient weighs count^(1 - patient_balance)."""
    weights = np.zeros(len(labels))
    for c in np.unique(labels):
        in_class = labels == c
        names, counts = np.unique(databases[in_class], return_counts=True)
        shares = np.minimum(1.0, counts / full_share_beats)
        for name, share in zip(names, shares / shares.sum()):
            rows = in_class & (databases == name)
            _, inverse, per_patient = np.unique(patients[rows], return_inverse=True, return_counts=True)
            w = per_patient[inverse].astype(float) ** -patient_balance
            weights[rows] = share * w / w.sum() * in_class.sum() ** class_prior
    return weights / weights.sum()


def patient_folds(beats: beatset.BeatSet, n_folds: int, seed: int) -> np.ndarray:
    """The fold of each beat: whole patients, stratified by the rarest class each has, so every fold
    holds L and R patients."""
    patients = np.unique(beats.patients)
    rarest = []
    for p in patients:
        have = set(beats.labels[beats.patients == p])
        rarest.append(next((c for c in ("L", "R", "A", "V") if c in have), "N") + ":" + p.split(":")[0])
    rarest = np.asarray(rarest)
    counts = {s: (rarest == s).sum() for s in np.unique(rarest)}
    strata = np.array([s if counts[s] >= n_folds else s.split(":")[0] for s in rarest])
    fold_of = np.zeros(len(patients), dtype=int)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for f, (_, held) in enumerate(splitter.split(patients, strata)):
        fold_of[held] = f
    return fold_of[np.searchsorted(patients, beats.patients)]


@torch.no_grad()
def predict_probabilities(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    model.eval()
    return np.concatenate([torch.softmax(model(torch.from_numpy(x[i:i + batch_size])), 1).numpy()
                           for i in range(0, len(x), batch_size)]) if len(x) else np.zeros((0, len(BEAT_CLASSES)))


def left_out_answers(models: dict[str, nn.Module], beats: beatset.BeatSet, x: np.ndarray) -> np.ndarray:
    """Each beat of a database left out, answered by the model trained without that database (NaN for the
    beats of databases no model left out): what record mode's context is scored on with its database
    unseen by both models."""
    answers = np.full((len(beats), len(BEAT_CLASSES)), np.nan, dtype=np.float32)
    for database, model in models.items():
        left = beats.databases == database
        answers[left] = predict_probabilities(model, x[left])
    return answers


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def shifted(probabilities: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Probabilities after adding log-offsets to the outputs: what the shipped model answers."""
    return softmax(np.log(probabilities + 1e-7) + offsets)


def to_labels(probabilities: np.ndarray) -> np.ndarray:
    return np.asarray(BEAT_CLASSES)[probabilities.argmax(axis=1)]


def database_macro_f1(y: np.ndarray, predicted: np.ndarray, databases: np.ndarray) -> float:
    """The mean over databases of each one's macro-F1 over the classes it holds: what every choice is made on.

    Pooled over beats, SVDB's 65,447 normal beats and MIT-BIH's two LBBB patients decided the output offsets:
    offsets searched that way called a quarter of SVDB's normal beats L and, searched without one database,
    lowered that database's score. Each database weighing the same, as the training draws weigh them, keeps the
    choice to what holds across recorders.
    """
    return evaluation.database_balanced_f1(y, predicted, *database_codes(databases), len(BEAT_CLASSES))


def database_codes(databases: np.ndarray) -> tuple[np.ndarray, int]:
    """Each beat's database as an index, and how many databases: found once for a search that scores many times."""
    names, codes = np.unique(databases, return_inverse=True)
    return codes, len(names)


def output_offsets(probabilities: np.ndarray, labels: np.ndarray, databases: np.ndarray,
                   check: noise_check.NoiseCheck | None = None) -> tuple[np.ndarray, float]:
    """Log-offsets added to the network's outputs, and the database-balanced macro-F1 they give on these beats.

    Training draws rare classes more often than they occur (at class prior 0, as often as N), so the network
    answers as if A were commoner than in a recording, where it is 5 to 50 times rarer than N, and a beat's
    shape says little about it. Moving each
    class's output by an offset, searched one class at a time on out-of-fold answers, puts the
    decision where unseen patients' beats are best told apart. With a noise check that has a price, the
    search pays for what noise then costs in accuracy beyond the issue's targets, then goes on from there
    with the targets as a limit.
    """
    y = label_indices(labels)
    codes = database_codes(databases)
    logp = np.log(probabilities + 1e-7)

    def judged(trial: np.ndarray, price: float) -> tuple[float, float]:
        score = evaluation.database_balanced_f1(y, (logp + trial).argmax(axis=1), *codes, len(BEAT_CLASSES))
        paid = check.cost(check.losses(*check.answers(trial)), price) if price else 0.0
        return score - paid, score

    def search(offsets: np.ndarray, price: float) -> tuple[np.ndarray, float]:
        best, f1 = judged(offsets, price)
        for _ in range(OFFSET_ROUNDS):
            for c in range(1, len(BEAT_CLASSES)):
                for value in OFFSET_GRID:
                    trial = offsets.copy()
                    trial[c] = value
                    objective, score = judged(trial, price)
                    if objective > best + 1e-9:
                        best, f1, offsets = objective, score, trial
        return offsets, f1

    priced = check is not None and check.price > 0
    offsets, f1 = search(np.zeros(len(BEAT_CLASSES)), check.price if priced else 0.0)
    return search(offsets, noise_check.LIMIT_PRICE) if priced else (offsets, f1)


def fit(train: beatset.BeatSet, recipe: Recipe, stop_after: int | None = None,
        on_epoch: Callable[[int, dict[str, ECGCNN]], None] | None = None,
        views: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, ECGCNN]:
    """Train one model on the recipe's schedule, for `stop_after` of its epochs (all by default);
    the network as trained and the running average of its weights, by WEIGHT_KINDS. `views` (each
    training beat's row in the lead-view table, and the table) lets recipe.lead_views show other leads.

    Every run of a recipe follows the same schedule, so a model stopped after E epochs is
    the model cross-validation scored at epoch E. Held-out macro-F1 swings by up to 0.09 between
    neighbouring epochs; the weight average smooths out the last steps' wandering.
    """
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    model = ECGCNN(**recipe.model_config)
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
    models = dict(zip(WEIGHT_KINDS, (model, averaged.module)))
    y = label_indices(train.labels)
    p = draw_weights(train.labels, train.patients, train.databases, recipe.patient_balance, recipe.class_prior,
                     recipe.full_share_beats)
    mates = class_draws(y, p) if recipe.mix_patients else {}
    rivals = []  # (an adversary, the group it guesses for each training beat, its strength)
    for groups, weight in ((train.patients, recipe.adversary_weight), (train.databases, recipe.database_adversary)):
        if weight:
            names, group = np.unique(groups, return_inverse=True)
            rivals.append((adversary.Adversary(model.config["hidden"], len(BEAT_CLASSES), len(names)), group, weight))
    trained = [*model.parameters(), *(tensor for rival, _, _ in rivals for tensor in rival.parameters())]
    optimizer = torch.optim.AdamW(trained, lr=recipe.lr, weight_decay=recipe.weight_decay)
    per_epoch = recipe.epoch_size // recipe.batch_size
    total_steps = recipe.epochs * per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total_steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    step = 0
    for epoch in range(1, (stop_after or recipe.epochs) + 1):
        model.train()
        order = rng.choice(len(y), size=per_epoch * recipe.batch_size, replace=True, p=p)
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start:start + recipe.batch_size]
            wide = train.windows[idx]
            if views is not None and recipe.lead_views:
                wide = with_lead_views(wide, views[0][idx], views[1], recipe.lead_views, rng)
            if recipe.mix_patients:
                wide = with_class_mates(wide, idx, y, train, mates, recipe.mix_patients, rng)
            x = preprocess(augment.augment(wide, rng, recipe.augmentation))
            classes = torch.from_numpy(y[idx])
            features = torch.from_numpy(x).unsqueeze(1)
            for block_index, block in enumerate(model.features):
                features = block(features)
                if block_index < mix_style.BLOCKS and recipe.mix_style and torch.rand(1).item() < recipe.mix_style:
                    features = mix_style.mix_styles(features, classes)
            hidden, logits = model.classify(features)
            loss = loss_fn(logits, classes)
            if recipe.origin_loss:
                loss = loss + recipe.origin_loss * origin_loss(logits, classes)
            for rival, group, weight in rivals:
                scale = adversary.ramp(step / total_steps, weight)
                loss = loss + nn.functional.cross_entropy(rival(hidden, classes, scale), torch.from_numpy(group[idx]))
            step += 1
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            averaged.update_parameters(model)
        if on_epoch:
            on_epoch(epoch, models)
    return models


def class_draws(y: np.ndarray, p: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per class: its rows and the probability of drawing each within the class, as training draws them."""
    return {c: (rows, p[rows] / p[rows].sum()) for c in np.unique(y) for rows in [np.flatnonzero(y == c)]}


def with_class_mates(wide: np.ndarray, idx: np.ndarray, y: np.ndarray, train: beatset.BeatSet,
                     mates: dict[int, tuple[np.ndarray, np.ndarray]], share: float,
                     rng: np.random.Generator) -> np.ndarray:
    """The drawn windows (rows `idx` of `train`, whose class indices are `y`) with `share` of them blended with a
    beat of their class drawn as training draws; a mate from the beat's own patient leaves it as it is."""
    drawn = y[idx]
    mate = np.empty(len(idx), dtype=int)
    for c in np.unique(drawn):
        rows, p = mates[c]
        mate[drawn == c] = rng.choice(rows, size=int((drawn == c).sum()), p=p)
    chosen = (rng.random(len(idx)) < share) & (train.patients[mate] != train.patients[idx])
    wide = wide.copy()
    wide[chosen] = augment.blend(wide[chosen], train.windows[mate[chosen]], rng)
    return wide


def with_lead_views(wide: np.ndarray, rows: np.ndarray, table: np.ndarray, share: float,
                    rng: np.random.Generator) -> np.ndarray:
    """The drawn windows with `share` of those that have other leads (rows >= 0) replaced by one of them."""
    chosen = (rows >= 0) & (rng.random(len(rows)) < share)
    wide = wide.copy()
    wide[chosen] = table[rows[chosen], rng.integers(table.shape[1], size=int(chosen.sum()))]
    return wide


def training_views(sources: dict, code: str, beats: beatset.BeatSet, trained: np.ndarray,
                   recipe: Recipe) -> tuple[np.ndarray, np.ndarray] | None:
    """What `fit` needs to show other leads for the beats `trained` selects from the whole set, or None."""
    if not recipe.lead_views:
        return None
    return beatset.view_rows(beats)[trained], beatset.lead_views(sources, code=code)


def scored_epochs(recipe: Recipe) -> range:
    """The epochs cross-validation scores: the second half of the schedule, as the learning rate anneals."""
    return range(recipe.epochs // 2 + 1, recipe.epochs + 1)


def _in_worker(threads: int = 1) -> None:
    """One thread per process: on this machine two single-thread trainings run twice as fast as one with two."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def fold_job(sources: dict, code: str, folds: np.ndarray, fold: int, recipe: Recipe) -> dict:
    """Train on every fold but `fold`; its held-out probabilities and weights at each scored epoch."""
    _in_worker()
    beats = beatset.load(sources, code=code)
    held = folds == fold
    held_beats = beats.subset(held)
    centred = held_beats.centred()
    held_x = preprocess(centred)
    check_rows = noise_check.sample_rows(len(centred))
    moved_x = {move: preprocess(held_beats.centred(move)[check_rows]) for move in noise_check.PEAK_MOVES}
    noisy_x = {snr: preprocess(noise_check.noisy_windows(centred[check_rows], snr,
                                                         seed=(recipe.seed * 100 + fold) * 100 + i))
               for i, snr in enumerate(noise_check.SNRS_DB)}
    started = time.time()
    out: dict = {"probabilities": {}, "noisy": {}, "moved": {}, "states": {}, "check_rows": check_rows}

    def record(epoch: int, models: dict[str, ECGCNN]) -> None:
        if epoch in scored_epochs(recipe):
            for kind, model in models.items():
                out["probabilities"][kind, epoch] = predict_probabilities(model, held_x)
                out["noisy"][kind, epoch] = {snr: predict_probabilities(model, x) for snr, x in noisy_x.items()}
                out["moved"][kind, epoch] = {move: predict_probabilities(model, x) for move, x in moved_x.items()}
                out["states"][kind, epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    fit(beats.subset(~held), recipe, on_epoch=record, views=training_views(sources, code, beats, ~held, recipe))
    out["seconds"] = time.time() - started
    f1 = {key: evaluation.class_scores(beats.labels[held], to_labels(p), BEAT_CLASSES)["macro_f1"]
          for key, p in out["probabilities"].items()}
    for kind in WEIGHT_KINDS:
        print(f"{recipe.draws}, seed {recipe.seed}, fold {fold + 1}, {kind} weights: "
              "held-out macro-F1 "
              "by epoch " + ", ".join(f"{e}: {v:.3f}" for (k, e), v in f1.items() if k == kind)
              + f" ({out['seconds']:.0f} s)", flush=True)
    return out


def model_job(sources: dict, code: str, leave_out: str | None, recipe: Recipe, kind: str, epochs: int) -> dict:
    """Train on every database but `leave_out` (None: all) for `epochs`; the `kind` of weights."""
    _in_worker()
    beats = beatset.load(sources, code=code)
    started = time.time()
    kept = beats.databases != leave_out
    views = training_views(sources, code, beats, kept, recipe)
    model = fit(beats.subset(kept), recipe, stop_after=epochs, views=views)[kind]
    return {"state": model.state_dict(), "seconds": time.time() - started}


def packed(recipe: Recipe, states: list[dict], offsets: np.ndarray | None = None) -> ECGCNN:
    """One ECGCNN holding every member's weights, with the output offsets in its last bias."""
    model = ECGCNN(**recipe.model_config, members=len(states))
    model.load_state_dict(pack(states))
    if offsets is not None:
        model.add_to_bias(torch.as_tensor(offsets))
    return model.eval()


def fold_weights(candidate: dict) -> dict[str, torch.Tensor]:
    """The chosen candidate's fold models, with its output offsets, as one state dict ("fold<k>.<name>"). Fold
    model k never saw the patients of fold k (oof.npz's `folds`) and gave their out-of-fold answers, so it
    answers for those training patients as for a new patient."""
    return {f"fold{f}.{key}": value.contiguous() for f, states in enumerate(candidate["fold_states"])
            for key, value in packed(candidate["recipe"], states, candidate["offsets"]).state_dict().items()}


def fold_models(folder: Path) -> list[ECGCNN]:
    """The fold models `fold_weights` saved beside the weights in `folder`, in fold order, for inference. They
    must come from the run that wrote those weights: their out-of-fold answers are that run's."""
    meta = json.loads((Path(folder) / METADATA_FILE).read_text())
    with safe_open(str(Path(folder) / FOLDS_FILE), "pt") as saved:
        if (saved.metadata() or {}).get("weights_sha256") != meta["weights_sha256"]:
            raise WeightsError(f"{Path(folder) / FOLDS_FILE} is not from the run that wrote "
                               f"{Path(folder) / WEIGHTS_FILE}: rerun `python -m training.train` for both.")
        state = {key: saved.get_tensor(key) for key in saved.keys()}
    config = meta["model_config"]
    models = []
    for f in range(len({key.split(".", 1)[0] for key in state})):
        model = ECGCNN(**config)
        model.load_state_dict({key.split(".", 1)[1]: value for key, value in state.items()
                               if key.startswith(f"fold{f}.")})
        models.append(model.eval())
    return models


def ensemble(probabilities: list[np.ndarray]) -> np.ndarray:
    """Members' probabilities -> the ensemble's: softmax of the mean log-probability, as ECGCNN's
    mean of logits gives."""
    return softmax(np.mean([np.log(p + 1e-7) for p in probabilities], axis=0))


def held_out_offsets_f1(probabilities: np.ndarray, labels: np.ndarray, databases: np.ndarray,
                        folds: np.ndarray, check: noise_check.NoiseCheck | None = None
                        ) -> tuple[float, noise_check.Losses | None]:
    """Database-balanced macro-F1 when each fold's answers get offsets searched on the other folds' answers only,
    and (with a noise check) what those offsets lose to noise and to a moved R-peak on the fold's own beats.

    Offsets searched on the same answers they are scored on flatter the score (by 0.02 to 0.06 over
    run 7's epochs); this figure is what the offsets are worth on patients they were not fitted to,
    so it is what candidates are chosen by.
    """
    predicted = np.zeros(len(labels), dtype=np.int64)
    logp = np.log(probabilities + 1e-7)
    if check:
        clean = np.zeros(len(check.y), dtype=np.int64)
        noisy = {s: np.zeros(len(check.y), dtype=np.int64) for s in check.noisy}
        moved = {m: np.zeros(len(check.y), dtype=np.int64) for m in check.moved}
    for f in np.unique(folds):
        held = folds == f
        offsets, _ = output_offsets(probabilities[~held], labels[~held], databases[~held],
                                    check.restricted(folds[check.rows] != f) if check else None)
        predicted[held] = (logp[held] + offsets).argmax(axis=1)
        if check:
            in_fold = folds[check.rows] == f
            clean[in_fold], fold_noisy, fold_moved = check.restricted(in_fold).answers(offsets)
            for answers, fold_answers in ((noisy, fold_noisy), (moved, fold_moved)):
                for key, answer in fold_answers.items():
                    answers[key][in_fold] = answer
    f1 = database_macro_f1(label_indices(labels), predicted, databases)
    return (f1, check.losses(clean, noisy, moved)) if check else (f1, None)


def cross_validate(pool: ProcessPoolExecutor, sources: dict, code: str, beats: beatset.BeatSet, folds: np.ndarray,
                   recipes: list[Recipe], members: int, noise_price: float = 0.0,
                   price_placement: bool = False) -> list[dict]:
    """For each recipe, kind of weights and set of members (each seed alone, and all together):
    out-of-fold probabilities at each scored epoch, the epoch chosen by held-out-offsets macro-F1 and
    its scores, and each fold's weights there. Only the first seed alone and the
    ensemble are candidates to ship; the other seeds alone show how far one member moves with its seed."""
    n_folds = int(folds.max()) + 1
    seeded = [[replace(recipe, seed=recipe.seed + m) for m in range(members)] for recipe in recipes]
    jobs = {(r, f, m): pool.submit(fold_job, sources, code, folds, f, member)
            for r, recipe_members in enumerate(seeded) for f in range(n_folds)
            for m, member in enumerate(recipe_members)}
    member_sets = [(m,) for m in range(members)] + ([tuple(range(members))] if members > 1 else [])
    results = []
    for r, recipe in enumerate(recipes):
        done = {(f, m): jobs[r, f, m].result() for f in range(n_folds) for m in range(members)}
        for kind in WEIGHT_KINDS:
            for chosen_members in member_sets:
                by_epoch, checks = {}, {}
                for epoch in scored_epochs(recipe):
                    oof = np.zeros((len(beats), len(BEAT_CLASSES)), dtype=np.float32)
                    for f in range(n_folds):
                        oof[folds == f] = ensemble([done[f, m]["probabilities"][kind, epoch] for m in chosen_members])
                    by_epoch[epoch] = oof
                    checks[epoch] = out_of_fold_check(oof, beats, folds, [
                        ([done[f, m]["noisy"][kind, epoch] for m in chosen_members],
                         [done[f, m]["moved"][kind, epoch] for m in chosen_members], done[f, 0]["check_rows"])
                        for f in range(n_folds)], noise_price, price_placement)
                results.append(score_candidate(recipe, kind, chosen_members, by_epoch, checks, beats, folds,
                                               [[done[f, m] for m in chosen_members] for f in range(n_folds)]))
    return results


def out_of_fold_check(oof: np.ndarray, beats: beatset.BeatSet, folds: np.ndarray,
                      per_fold: list[tuple[list[dict[float, np.ndarray]], list[dict[int, np.ndarray]], np.ndarray]],
                      price: float, price_placement: bool) -> noise_check.NoiseCheck:
    """The noise check of out-of-fold answers: each fold's sampled beats, clean, with noise (members' answers by
    SNR) and with the R-peak moved (by move); members' ensemble."""
    rows = np.concatenate([np.flatnonzero(folds == f)[sampled] for f, (_, _, sampled) in enumerate(per_fold)])

    def pooled(which: int, keys: tuple) -> dict:
        return {key: np.log(np.concatenate([ensemble([member[key] for member in fold[which]])
                                            for fold in per_fold]) + 1e-7) for key in keys}

    codes, n_databases = database_codes(beats.databases)
    return noise_check.NoiseCheck(rows, np.log(oof[rows] + 1e-7), pooled(0, noise_check.SNRS_DB),
                                  label_indices(beats.labels[rows]), codes[rows], n_databases, price,
                                  pooled(1, noise_check.PEAK_MOVES), price_placement)


def score_candidate(recipe: Recipe, kind: str, chosen_members: tuple[int, ...], by_epoch: dict[int, np.ndarray],
                    checks: dict[int, noise_check.NoiseCheck], beats: beatset.BeatSet, folds: np.ndarray,
                    fold_members: list[list[dict]]) -> dict:
    """Scores of one candidate's out-of-fold answers by epoch; its chosen epoch, offsets and fold weights there.

    The epoch is chosen by held-out-offsets macro-F1 less what noise (and, if priced, a moved R-peak) costs
    beyond the issue's targets.
    """
    y = label_indices(beats.labels)
    raw = {e: database_macro_f1(y, p.argmax(axis=1), beats.databases) for e, p in by_epoch.items()}
    adjusted = {e: output_offsets(p, beats.labels, beats.databases, checks[e]) for e, p in by_epoch.items()}
    honest = {e: held_out_offsets_f1(p, beats.labels, beats.databases, folds, checks[e]) for e, p in by_epoch.items()}
    objective = {e: f1 - checks[e].cost(losses) for e, (f1, losses) in honest.items()}
    chosen = max(objective, key=objective.get)
    seeds = tuple(recipe.seed + m for m in chosen_members)
    print(f"{recipe.draws}, {kind} weights, seeds {seeds}: out-of-fold macro-F1 by "
          "epoch (offsets fitted on the other folds [accuracy lost at 12 / 6 dB; macro-F1 lost with the R-peak "
          "moved " + " / ".join(f"{m:+d}" for m in noise_check.PEAK_MOVES) + "]; on the same answers) "
          + ", ".join(f"{e}: {raw[e]:.3f} ({f1:.3f} [" + " / ".join(f"{d:.3f}" for d in losses.noise.values())
                      + "; " + " / ".join(f"{d:.3f}" for d in losses.moves.values())
                      + f"]; {adjusted[e][1]:.3f})" for e, (f1, losses) in honest.items())
          + "; folds took " + ", ".join(f"{t['seconds']:.0f}" for trained in fold_members for t in trained) + " s",
          flush=True)
    offsets = adjusted[chosen][0]
    unchecked, _ = output_offsets(by_epoch[chosen], beats.labels, beats.databases)
    check = checks[chosen]
    shipped, without_check = check.losses(*check.answers(offsets)), check.losses(*check.answers(unchecked))
    return {"recipe": recipe, "weights": kind, "seeds": seeds, "choosable": chosen_members[0] == 0,
            "probabilities": shifted(by_epoch[chosen], offsets),
            "raw_macro_f1_by_epoch": raw, "macro_f1_by_epoch": {e: a[1] for e, a in adjusted.items()},
            "held_out_offsets_macro_f1_by_epoch": {e: h[0] for e, h in honest.items()},
            "held_out_noise_drops_by_epoch": {e: h[1].noise for e, h in honest.items()},
            "held_out_objective_by_epoch": objective, "offsets": offsets,
            "chosen_epoch": chosen, "macro_f1": adjusted[chosen][1],
            "held_out_offsets_macro_f1": honest[chosen][0], "held_out_objective": objective[chosen],
            "noise_drops": shipped.noise, "move_losses": shipped.moves, "noise_check_beats": len(check.rows),
            "offsets_without_noise_check": unchecked,
            "noise_drops_without_noise_check": without_check.noise,
            "move_losses_without_noise_check": without_check.moves,
            "fold_states": [[t["states"][kind, chosen] for t in trained] for trained in fold_members]}


def check_figures(shipped: noise_check.Losses, unchecked: np.ndarray, without_check: noise_check.Losses
                  ) -> tuple[dict, dict]:
    """The model card's noise-check and placement-check figures: the limits, what noise and a moved R-peak cost with
    the chosen offsets, the offsets searched without the check and what those cost."""
    noise = {"allowed_drop": {f"{s:g} dB": d for s, d in noise_check.ALLOWED_DROP.items()},
             "drops": {f"{s:g} dB": d for s, d in shipped.noise.items()},
             "offsets_without_check": dict(zip(BEAT_CLASSES, unchecked.tolist())),
             "drops_without_check": {f"{s:g} dB": d for s, d in without_check.noise.items()}}
    placement = {"allowed_loss": {f"{m:+d}": v for m, v in noise_check.ALLOWED_MOVE_LOSS.items()},
                 "losses": {f"{m:+d}": v for m, v in shipped.moves.items()},
                 "losses_without_check": {f"{m:+d}": v for m, v in without_check.moves.items()}}
    return noise, placement


def typicality_thresholds(candidate: dict, beats: beatset.BeatSet, folds: np.ndarray, held_x: np.ndarray
                          ) -> list[float]:
    """Each fold model's atypical-beat threshold, measured on its held-out patients."""
    thresholds = []
    for f, states in enumerate(candidate["fold_states"]):
        model = packed(candidate["recipe"], states)
        train = np.flatnonzero(folds != f)[:: max(1, (folds != f).sum() // TYPICALITY_SAMPLE)]
        stats = typicality.describe(model, held_x[train], beats.labels[train])
        thresholds.append(typicality.held_out_threshold(model, stats, held_x[folds == f]))
    return thresholds


def database_masks(beats: beatset.BeatSet) -> dict[str, np.ndarray]:
    """"all" and each database's name, with the beats that belong to it: what the report scores one by one."""
    return {"all": np.ones(len(beats), dtype=bool)} | {str(db): beats.databases == db
                                                       for db in np.unique(beats.databases)}


def scores_by_database(beats: beatset.BeatSet, predicted: np.ndarray) -> dict:
    """Five-class and AAMI scores over all beats and over each database's."""
    return {name: evaluation.evaluate(beats.labels[m], predicted[m], BEAT_CLASSES)
            for name, m in database_masks(beats).items()}


def confidence_by_database(beats: beatset.BeatSet, probabilities: np.ndarray) -> dict:
    """How often each out-of-fold call was right against the confidence given, over all beats and each database's."""
    return {name: evaluation.confidence_by_call(beats.labels[m], probabilities[m], BEAT_CLASSES, LOW_CONFIDENCE)
            for name, m in database_masks(beats).items()}


def source_table(beats: beatset.BeatSet) -> dict:
    """Patients and beats per class that each database adds."""
    table = {}
    for db in np.unique(beats.databases):
        mask = beats.databases == db
        table[str(db)] = {"patients": int(len(set(beats.patients[mask]))),
                          "beats": {c: int((beats.labels[mask] == c).sum()) for c in BEAT_CLASSES},
                          "patients_per_class": {c: int(len(set(beats.patients[mask & (beats.labels == c)])))
                                                 for c in BEAT_CLASSES}}
    return table


def write_report(out: Path, meta: dict) -> None:
    """Markdown report of the cross-validated and leave-one-database-out scores."""
    cv = meta["cross_validation"]
    sources = "\n".join(
        f"| {db} | {s['patients']} | " + " | ".join(f"{s['beats'][c]} ({s['patients_per_class'][c]})"
                                                     for c in BEAT_CLASSES) + " |"
        for db, s in meta["sources"].items())
    lodo = "\n\n".join(f"### Without {db}, scored on {db}\n{evaluation.markdown_table(r['five_class'])}\n\n"
                       f"AAMI:\n\n{evaluation.markdown_table(r['aami'])}"
                       for db, r in meta["leave_one_database_out"].items())
    per_db = "\n\n".join(f"### {db}\n{evaluation.markdown_table(r['five_class'])}"
                         for db, r in cv["scores"].items() if db != "all")
    candidates = "\n".join(f"| {c['patient_balance']:g} | {c['class_prior']:g} | {c['adversary_weight']:g} | "
                           f"{c.get('lead_views', 0):g} | "
                           f"{c['weights']} | "
                           + " + ".join(map(str, c["seeds"])) + ("" if c["choosable"] else " (not a candidate)")
                           + " | "
                           + " | ".join(f"{raw:.3f} / {honest:.3f} / {v:.3f}" for raw, honest, v in zip(
                               c["macro_f1_by_epoch_without_offsets"].values(),
                               c["held_out_offsets_macro_f1_by_epoch"].values(), c["macro_f1_by_epoch"].values()))
                           + f" | {c['chosen_epoch']} |" for c in cv["candidates"])
    offsets = ", ".join(f"{c} {v:+.2f}" for c, v in cv["output_offsets"].items())
    check = cv["noise_check"]
    drops = " and ".join(f"{d:.3f} at {s}" for s, d in check["drops"].items())
    allowed = " and ".join(f"{d:g} at {s}" for s, d in check["allowed_drop"].items())
    unchecked = ", ".join(f"{c} {v:+.2f}" for c, v in check["offsets_without_check"].items())
    unchecked_drops = " and ".join(f"{d:.3f}" for d in check["drops_without_check"].values())
    paid = (f"Every offset search and the choice of epoch pay {check['penalty']:g} of macro-F1 per unit of accuracy "
            f"lost beyond {allowed}." if check["penalty"] else
            f"The drops are measured, not used (`--noise-penalty 0`); the issue allows {allowed}.")
    placement = cv["placement_check"]
    moves = ", ".join(f"{loss:.3f} at {m}" for m, loss in placement["losses"].items())
    unchecked_moves = ", ".join(f"{loss:.3f}" for loss in placement["losses_without_check"].values())
    placement_paid = ("paid for beyond the issue's targets at the same price, `--price-placement`"
                      if placement["priced"] and check["penalty"] else "measured, not used")
    seeds = cv["chosen_seeds"]
    members = (f"seed {seeds[0]}" if len(seeds) == 1 else
               f"seeds {' + '.join(map(str, seeds))} packed into one ECGCNN of {len(seeds)} members")
    n_seeds = len(meta["recipe_seeds"])
    seeds_sentence = ("Each fold trains one network." if n_seeds == 1 else
                      f"Each fold trains {n_seeds} networks that differ only in their seed; a candidate is the first\n"
                      "alone or the ensemble of all (mean logits); the other seeds alone show how far one network "
                      "moves with its\nseed.")
    epochs = list(cv["candidates"][0]["macro_f1_by_epoch"])
    draws = Recipe(**meta["recipe"]).draws
    text = f"""# ECGCNN: cross-validated on every training patient

Rebuild: `{meta['command']}` ({meta['train_seconds'] / 60:.0f} min on this machine).
MIT-BIH DS2 is not read by training: `python -m measure.evaluate` scores it.

## Training data: beats per class (patients)
| database | patients | N | L | R | V | A |
|---|---:|---:|---:|---:|---:|---:|
{sources}

## Patient-wise cross-validation, {cv['folds']} folds
Every fold holds whole patients, at least one of them with L beats and one with R beats. Fold models
follow one schedule of {meta['recipe']['epochs']} epochs, scored on their held-out patients from the
schedule's second half, both as trained ("last") and as the running average of their weights ("averaged").
{seeds_sentence} Out-of-fold macro-F1 of each candidate by epoch, the mean over databases of each one's macro-F1 over
the classes it holds: as the network answers / with output offsets
searched on the other folds' answers (what the choice is made on) / with offsets searched on the same
answers (optimistic):

| patient balance | class prior | adversary | lead views | weights | members' seeds | {' | '.join(epochs)} \
| chosen epoch |
|---|---|---|---|---|---|{'---:|' * len(epochs)}---:|
{candidates}

Shipped: {draws}, {cv['chosen_weights']} weights after
{cv['chosen_epoch']} epochs, {members} retrained on every training patient, with the output offsets ({offsets}),
searched on all out-of-fold answers, added to its last layer's bias. The tables below are out of fold with
those offsets (optimistic by the gap between the last two figures above).

Noise check: each fold model also answers {check['beats']:,} of its held-out beats with the training noise (bw and
ma recordings' first 20 minutes, em, mains, white) at {', '.join(f'{s:g}' for s in check['snrs_db'])} dB SNR.
{paid} With the shipped offsets out of fold accuracy (the mean over databases) falls by {drops};
the offsets searched without the check ({unchecked}) lose {unchecked_drops}.
With the R-peak moved by {', '.join(f'{m:+d}' for m in placement['moves'])} samples ({placement_paid}) the same sample's
macro-F1 (the mean over databases) falls by {moves} with the shipped offsets, {unchecked_moves} with the
offsets searched without the check.

### All training patients, out of fold
{evaluation.markdown_table(cv['scores']['all']['five_class'])}

{evaluation.confusion_table(cv['scores']['all']['five_class'])}

AAMI:

{evaluation.markdown_table(cv['scores']['all']['aami'])}

{per_db}

## Leave one database out ({cv['chosen_epoch']} epochs)
{lodo}

## Atypical-beat warning
Threshold {meta['typicality']['threshold']:.2f}: the median over folds of the 99th percentile of
held-out patients' distances ({', '.join(f'{t:.2f}' for t in cv['typicality_thresholds'])}).
Share flagged by the shipped model: paced, fusion and unclassifiable beats of all 48 MIT-BIH
records (outside the five classes) {meta['typicality']['flagged_share']['outside_classes']:.3f}.
"""
    (out / "report.md").write_text(text)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stop_workers(signum: int, frame: object) -> None:
    """`kill` reaches this process alone: its workers go with it rather than train on for nothing, at half the speed
    of the next run beside them. It exits at once: SystemExit would wait in the worker pool's shutdown, which can
    hang for good when the signal comes while the pool is still starting its workers (seen once in CI)."""
    for child in multiprocessing.active_children():
        child.terminate()
    os._exit(128 + signum)


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, _stop_workers)
    started = time.time()
    recipes = [Recipe(epochs=args.epochs, epoch_size=args.epoch_size, patient_balance=b, class_prior=a,
                      adversary_weight=w, lead_views=v, ema_decay=args.ema_decay, widths=tuple(args.widths),
                      kernel_size=args.kernel_size, dilations=tuple(args.dilations), pooling=args.pooling,
                      full_share_beats=args.full_share_beats, stretch_spares_s=args.stretch_spares,
                      mix_patients=args.mix_patients, recorder_share=args.recorder_filters,
                      database_adversary=args.database_adversary, mix_style=args.mix_style,
                      origin_loss=args.origin_loss, seed=args.seed)
               for b in args.patient_balance for a in args.class_prior for w in args.adversary for v in args.lead_views]
    sources = QUICK_SOURCES if args.quick else beatset.training_sources()
    code = beatset.beat_code()
    beats = beatset.load(sources, code=code)
    print(f"{len(beats)} training beats of {len(set(beats.patients))} patients", flush=True)
    folds = patient_folds(beats, args.folds, args.seed)
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        candidates = cross_validate(pool, sources, code, beats, folds, recipes, args.members, args.noise_penalty,
                                    args.price_placement)
        best = max((c for c in candidates if c["choosable"]), key=lambda c: c["held_out_objective"])
        recipe, kind, epochs = best["recipe"], best["weights"], best["chosen_epoch"]
        seeded = [replace(recipe, seed=seed) for seed in best["seeds"]]
        jobs = {(db, m): pool.submit(model_job, sources, code, db, member, kind, epochs)
                for db in (*LEFT_OUT, None) if db is None or db in beats.databases
                for m, member in enumerate(seeded)}
        trained = {key: job.result() for key, job in jobs.items()}
    _in_worker(threads=WORKERS)
    models = {db: packed(recipe, [trained[db, m]["state"] for m in range(len(seeded))], best["offsets"])
              for db in dict.fromkeys(db for db, _ in trained)}
    model = models.pop(None)
    every_x = preprocess(beats.centred())
    left_out_probabilities = left_out_answers(models, beats, every_x)
    lodo = {db: evaluation.evaluate(beats.labels[left], to_labels(left_out_probabilities[left]), BEAT_CLASSES)
            for db in models for left in [beats.databases == db]}
    sample = np.arange(len(beats))[:: max(1, len(beats) // TYPICALITY_SAMPLE)]
    stats = typicality.describe(model, every_x[sample], beats.labels[sample])
    thresholds = typicality_thresholds(best, beats, folds, every_x)
    stats["threshold"] = float(np.median(thresholds))
    outside = mitbih.load_beats(mitbih.ALL_RECORDS, wanted=mitbih.OUTSIDE_CLASSES)
    stats["flagged_share"] = {"outside_classes": float(typicality.flagged(
        model, stats, preprocess(outside.windows)).mean())}

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / WEIGHTS_FILE
    save_file(model.state_dict(), str(weights))
    save_file(fold_weights(best), str(args.out / FOLDS_FILE), metadata={"weights_sha256": sha256(weights)})
    np.savez(args.out / OOF_FILE, probabilities=best["probabilities"], labels=beats.labels, patients=beats.patients,
             databases=beats.databases, records=beats.records, peaks=beats.peaks, folds=folds,
             left_out_probabilities=left_out_probabilities)
    options = f"--folds {args.folds} --epochs {args.epochs} --epoch-size {args.epoch_size} " \
              f"--ema-decay {args.ema_decay:g} --patient-balance " \
              + " ".join(f"{b:g}" for b in args.patient_balance) \
              + f" --pooling {args.pooling} --members {args.members} --seed {args.seed} --out {args.out}"
    if args.class_prior != [Recipe.class_prior]:
        options += " --class-prior " + " ".join(f"{a:g}" for a in args.class_prior)
    if args.adversary != [Recipe.adversary_weight]:
        options += " --adversary " + " ".join(f"{w:g}" for w in args.adversary)
    if args.database_adversary != Recipe.database_adversary:
        options += f" --database-adversary {args.database_adversary:g}"
    if args.lead_views != [Recipe.lead_views]:
        options += " --lead-views " + " ".join(f"{v:g}" for v in args.lead_views)
    if args.noise_penalty != NOISE_PENALTY:
        options += f" --noise-penalty {args.noise_penalty:g}"
    if args.price_placement:
        options += " --price-placement"
    if args.full_share_beats != FULL_SHARE_BEATS:
        options += f" --full-share-beats {args.full_share_beats}"
    if args.stretch_spares != Recipe.stretch_spares_s:
        options += f" --stretch-spares {args.stretch_spares:g}"
    if args.mix_patients != Recipe.mix_patients:
        options += f" --mix-patients {args.mix_patients:g}"
    if args.recorder_filters != Recipe.recorder_share:
        options += f" --recorder-filters {args.recorder_filters:g}"
    if args.mix_style != Recipe.mix_style:
        options += f" --mix-style {args.mix_style:g}"
    if args.origin_loss != Recipe.origin_loss:
        options += f" --origin-loss {args.origin_loss:g}"
    if tuple(args.widths) != WIDTHS:
        options += " --widths " + " ".join(map(str, args.widths))
    if args.kernel_size != Recipe.kernel_size:
        options += f" --kernel-size {args.kernel_size}"
    if tuple(args.dilations) != DILATIONS:
        options += " --dilations " + " ".join(map(str, args.dilations))
    oof_labels = to_labels(best["probabilities"])
    noise_figures, placement_figures = check_figures(
        noise_check.Losses(best["noise_drops"], best["move_losses"]), best["offsets_without_noise_check"],
        noise_check.Losses(best["noise_drops_without_noise_check"], best["move_losses_without_noise_check"]))
    meta = {
        "model": "ECGCNN",
        "model_config": {**recipe.model_config, "members": len(seeded)},
        "classes": list(BEAT_CLASSES),
        "sampling_rate": SAMPLING_RATE,
        "beat_length": BEAT_LENGTH,
        "r_peak_index": WINDOW_BEFORE,
        "preprocessing": PREPROCESSING,
        "split": "inter-patient",
        "training_data": {db: sorted(set(beats.records[beats.databases == db].tolist()), key=lambda r: (len(r), r))
                          for db in sources},
        "test_records": list(mitbih.DS2),
        "recipe": asdict(recipe),
        "recipe_seeds": [args.seed + m for m in range(args.members)],
        "augmentation": asdict(recipe.augmentation),
        "sources": source_table(beats),
        "cross_validation": {
            "folds": args.folds, "chosen_epoch": epochs, "chosen_weights": kind, "chosen_seeds": list(best["seeds"]),
            "output_offsets": dict(zip(BEAT_CLASSES, best["offsets"].tolist())),
            "noise_check": {"snrs_db": list(noise_check.SNRS_DB), "penalty": args.noise_penalty,
                            "beats": best["noise_check_beats"], **noise_figures},
            "placement_check": {"moves": list(noise_check.PEAK_MOVES), "priced": args.price_placement,
                                **placement_figures},
            "candidates": [{"patient_balance": c["recipe"].patient_balance, "class_prior": c["recipe"].class_prior,
                            "adversary_weight": c["recipe"].adversary_weight,
                            "lead_views": c["recipe"].lead_views, "weights": c["weights"],
                            "seeds": list(c["seeds"]), "choosable": c["choosable"],
                            "chosen_epoch": c["chosen_epoch"], "macro_f1": c["macro_f1"],
                            "held_out_offsets_macro_f1": c["held_out_offsets_macro_f1"],
                            "held_out_objective": c["held_out_objective"],
                            "held_out_noise_drops_by_epoch": {
                                str(e): {f"{s:g} dB": d for s, d in drops.items()}
                                for e, drops in c["held_out_noise_drops_by_epoch"].items()},
                            "macro_f1_by_epoch": {str(e): v for e, v in c["macro_f1_by_epoch"].items()},
                            "held_out_offsets_macro_f1_by_epoch": {
                                str(e): v for e, v in c["held_out_offsets_macro_f1_by_epoch"].items()},
                            "macro_f1_by_epoch_without_offsets": {
                                str(e): v for e, v in c["raw_macro_f1_by_epoch"].items()}}
                           for c in candidates],
            "typicality_thresholds": thresholds,
            "scores": scores_by_database(beats, oof_labels),
            "confidence": confidence_by_database(beats, best["probabilities"])},
        "leave_one_database_out": lodo,
        "typicality": stats,
        "command": "python -m training.train " + ("--quick --out " + str(args.out) if args.quick else options),
        "train_seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256(weights),
    }
    (args.out / METADATA_FILE).write_text(json.dumps(meta, indent=1))
    write_report(args.out, meta)
    five = meta["cross_validation"]["scores"]["all"]["five_class"]
    print(f"chosen: {recipe.draws}, {kind} weights, {epochs} epochs; out of fold: accuracy "
          f"{five['accuracy']:.4f}, macro-F1 {five['macro_f1']:.3f}; "
          + ", ".join(f"{c} F1 {s['f1']:.3f}" for c, s in five["per_class"].items()))
    print(f"wrote {weights}, {args.out / METADATA_FILE}, {args.out / 'report.md'}, {args.out / OOF_FILE}, "
          f"{args.out / FOLDS_FILE} in {meta['train_seconds']} s")


if __name__ == "__main__":
    main()
