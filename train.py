"""Train ECGCNN on MIT-BIH; write weights, their metadata and an evaluation report.

    python train.py --split inter --out weights          # the shipped model (DS1 only)
    python train.py --split intra --out reports/intra    # random beat split, for comparison
    python train.py --quick --out /tmp/quick              # a few records, one epoch

Model choice and early stopping look only at the validation set: DS1 patients
held out from training (inter) or a held-out share of the training beats
(intra). DS2 is scored once, at the end, on the chosen weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm import tqdm

import evaluation
import mitbih
import typicality
from model import WIDTHS, ECGCNN
from labels import BEAT_CLASSES
from preprocessing import (BEAT_LENGTH, PREPROCESSING, SAMPLING_RATE,
                           WINDOW_BEFORE, preprocess)

WEIGHTS_FILE = "ecgcnn.safetensors"
METADATA_FILE = "ecgcnn.json"
QUICK_TRAINING = (109, 118, 209, 106)
QUICK_VALIDATION = (220,)
QUICK_TEST = (100, 232)


@dataclass
class Split:
    """Beats to learn from, to choose the model on, and to report."""

    name: str
    train: mitbih.Beats
    validation: mitbih.Beats
    test: mitbih.Beats
    test_name: str


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=mitbih.default_data_dir(), help="MIT-BIH WFDB folder")
    p.add_argument("--split", choices=("inter", "intra"), default="inter",
                   help="inter: de Chazal DS1/DS2 by patient; intra: random stratified 80/20 split of beats")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=8,
                   help="stop after this many epochs without a better validation macro-F1")
    p.add_argument("--epoch-size", type=int, default=24000, help="beats drawn per epoch")
    p.add_argument("--balance", type=float, default=1.0,
                   help="draw each beat with weight count(class)^-balance: 0 = as found, 1 = classes equal")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--kernel-size", type=int, default=7)
    p.add_argument("--widths", type=int, nargs=4, default=list(WIDTHS),
                   help="filters of the four convolution blocks (smaller: a faster variant)")
    p.add_argument("--no-augment", action="store_true", help="train on the beats as they are")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("weights"), help="folder for weights, metadata and report")
    p.add_argument("--quick", action="store_true", help="a few records, one epoch: a smoke test in seconds")
    args = p.parse_args()
    if args.quick:
        args.epochs, args.epoch_size = 1, 2000
    return args


def make_split(args: argparse.Namespace) -> Split:
    if args.quick:
        return Split("quick", mitbih.load_beats(QUICK_TRAINING, args.data_dir),
                     mitbih.load_beats(QUICK_VALIDATION, args.data_dir),
                     mitbih.load_beats(QUICK_TEST, args.data_dir), "DS2 (2 records)")
    if args.split == "inter":
        return Split("inter-patient", mitbih.load_beats(mitbih.TRAINING, args.data_dir),
                     mitbih.load_beats(mitbih.VALIDATION, args.data_dir),
                     mitbih.load_beats(mitbih.DS2, args.data_dir), "DS2")
    beats = mitbih.load_beats(mitbih.DS1 + mitbih.DS2, args.data_dir)
    index = np.arange(len(beats))
    rest, test = train_test_split(index, test_size=0.2, stratify=beats.labels, random_state=args.seed)
    train, val = train_test_split(rest, test_size=0.1, stratify=beats.labels[rest], random_state=args.seed)
    return Split("intra-patient", beats.subset(train), beats.subset(val), beats.subset(test),
                 "random 20% of beats")


def augment(windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small time stretches and shifts around the R-peak, baseline drift and noise."""
    n = len(windows)
    t = np.arange(BEAT_LENGTH)
    stretch = rng.uniform(0.9, 1.1, (n, 1))
    shift = rng.uniform(-3, 3, (n, 1))
    source = np.clip(WINDOW_BEFORE + shift + (t - WINDOW_BEFORE) * stretch, 0, BEAT_LENGTH - 1)
    left = np.floor(source).astype(int)
    right = np.minimum(left + 1, BEAT_LENGTH - 1)
    frac = source - left
    rows = np.arange(n)[:, None]
    out = windows[rows, left] * (1 - frac) + windows[rows, right] * frac
    scale = out.std(axis=1, keepdims=True)
    seconds = t / SAMPLING_RATE
    drift = rng.uniform(-0.5, 0.5, (n, 1)) * np.sin(2 * np.pi * rng.uniform(0.1, 1.0, (n, 1)) * seconds
                                                      + rng.uniform(0, 2 * np.pi, (n, 1)))
    noise = rng.normal(size=out.shape) * rng.uniform(0, 0.05, (n, 1))
    return out + scale * (drift + noise)


def label_indices(labels: np.ndarray) -> np.ndarray:
    """Class symbols -> output indices in BEAT_CLASSES order."""
    return np.vectorize({c: i for i, c in enumerate(BEAT_CLASSES)}.get)(labels).astype(np.int64)


def draw_epoch(labels: np.ndarray, size: int, balance: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of one epoch, rarer classes drawn more often."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = counts[inverse].astype(float) ** -balance
    return rng.choice(len(labels), size=size, replace=True, p=weights / weights.sum())


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Class indices for preprocessed beats."""
    model.eval()
    return np.concatenate([model(torch.from_numpy(x[i:i + batch_size])).argmax(1).numpy()
                           for i in range(0, len(x), batch_size)])


def score(model: nn.Module, beats: mitbih.Beats) -> dict:
    predicted = np.asarray(BEAT_CLASSES)[predict(model, preprocess(beats.windows))]
    return evaluation.evaluate(beats.labels, predicted, BEAT_CLASSES)


def selection_score(scores: dict) -> float:
    """Macro-F1 over the classes the validation beats contain: the number models are chosen by."""
    present = [s["f1"] for s in scores["per_class"].values() if s["support"]]
    return float(np.mean(present))


def fit(model: nn.Module, split: Split, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Train, keep the weights of the epoch with the best validation macro-F1."""
    rng = np.random.default_rng(args.seed)
    y = label_indices(split.train.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    steps = args.epochs * (args.epoch_size // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    best, history, stale = None, [], 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = draw_epoch(split.train.labels, args.epoch_size, args.balance, rng)
        batches = range(0, len(order) - args.batch_size + 1, args.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False)
        for start in bar:
            idx = order[start:start + args.batch_size]
            windows = split.train.windows[idx]
            if not args.no_augment:
                windows = augment(windows, rng)
            loss = loss_fn(model(torch.from_numpy(preprocess(windows))), torch.from_numpy(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        val = score(model, split.validation)["five_class"]
        chosen_by = selection_score(val)
        history.append({"epoch": epoch, "loss": loss.item(), "val_macro_f1": chosen_by,
                        "val_accuracy": val["accuracy"]})
        print(f"epoch {epoch}: loss {loss.item():.3f}, validation macro-F1 {chosen_by:.3f}, "
              f"accuracy {val['accuracy']:.4f}; F1 "
              + " ".join(f"{c} {s['f1']:.2f}" for c, s in val["per_class"].items()), flush=True)
        if best is None or chosen_by > best["macro_f1"]:
            best = {"macro_f1": chosen_by, "epoch": epoch,
                    "state": {k: v.clone() for k, v in model.state_dict().items()}}
            stale = 0
        else:
            stale += 1
            if stale >= args.patience:
                print(f"no better validation macro-F1 for {args.patience} epochs: stopping")
                break
    model.load_state_dict(best["state"])
    return best, history


def write_report(out: Path, split: Split, metrics: dict, meta: dict) -> None:
    """Markdown report with the test tables and a confusion-matrix PNG."""
    test = metrics["test"]
    evaluation.save_confusion_png(test["five_class"], out / "confusion.png",
                                  f"ECGCNN, {split.name}, {split.test_name}")
    aami = test["aami"]["per_class"]
    text = f"""# ECGCNN evaluation: {split.name}

Test set: {split.test_name}, {test['five_class']['n_beats']} beats from the reference annotations.
Model chosen at epoch {meta['best_epoch']} of {meta['epochs_run']} by validation macro-F1 over the classes
present in validation ({meta['history'][meta['best_epoch'] - 1]['val_macro_f1']:.3f} on {len(split.validation)} beats
of records {', '.join(map(str, meta['validation_records']))}).
Rebuild: `{meta['command']}`

## Five classes, test set
{evaluation.markdown_table(test['five_class'])}

## Confusion matrix, test set (rows: reference)
{evaluation.confusion_table(test['five_class'])}

![confusion matrix](confusion.png)

## AAMI view, test set (N+L+R as N, A as S)
{evaluation.markdown_table(test['aami'])}

S: sensitivity {aami['S']['sensitivity']:.3f}, +P {aami['S']['positive_predictivity']:.3f}.
V: sensitivity {aami['V']['sensitivity']:.3f}, +P {aami['V']['positive_predictivity']:.3f}.

## Atypical-beat warning
The app warns when a beat's embedding lies farther from the training beats than the
{meta['typicality']['percentile']:.0f}th percentile of validation beats. Share of beats flagged:
validation {meta['typicality']['flagged_share']['validation']:.3f},
test {meta['typicality']['flagged_share']['test']:.3f},
paced, fusion and unclassifiable beats of all 48 records (outside the five classes)
{meta['typicality']['flagged_share']['outside_classes']:.3f}.

## Five classes, validation set
{evaluation.markdown_table(metrics['validation']['five_class'])}
"""
    (out / "report.md").write_text(text)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    started = time.time()
    split = make_split(args)
    print(f"{split.name}: {len(split.train)} training, {len(split.validation)} validation, "
          f"{len(split.test)} test beats")
    config = {"n_classes": len(BEAT_CLASSES), "beat_length": BEAT_LENGTH, "kernel_size": args.kernel_size,
              "widths": args.widths}
    model = ECGCNN(**config)
    best, history = fit(model, split, args)
    metrics = {"validation": score(model, split.validation), "test": score(model, split.test)}
    stats = typicality.fit(model, preprocess(split.train.windows), split.train.labels,
                           preprocess(split.validation.windows))
    outside = mitbih.load_beats(mitbih.ALL_RECORDS, args.data_dir, mitbih.OUTSIDE_CLASSES)
    stats["flagged_share"] = {
        name: float(typicality.flagged(model, stats, preprocess(beats.windows)).mean())
        for name, beats in (("validation", split.validation), ("test", split.test),
                            ("outside_classes", outside))
    }
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / WEIGHTS_FILE
    save_file(model.state_dict(), str(weights))
    settings = f"--split {args.split} --epochs {args.epochs} --seed {args.seed} --out {args.out}"
    if tuple(args.widths) != WIDTHS:
        settings += " --widths " + " ".join(map(str, args.widths))
    command = "python train.py " + (f"--quick --out {args.out}" if args.quick else settings)
    meta = {
        "model": "ECGCNN",
        "model_config": config,
        "classes": list(BEAT_CLASSES),
        "sampling_rate": SAMPLING_RATE,
        "beat_length": BEAT_LENGTH,
        "r_peak_index": WINDOW_BEFORE,
        "preprocessing": PREPROCESSING,
        "split": split.name,
        "training_records": sorted({int(r) for r in split.train.records}),
        "validation_records": sorted({int(r) for r in split.validation.records}),
        "test_records": sorted({int(r) for r in split.test.records}),
        "test_set": split.test_name,
        "seed": args.seed,
        "epochs": args.epochs,
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "history": history,
        "metrics": metrics,
        "typicality": stats,
        "command": command,
        "train_seconds": round(time.time() - started, 1),
        "torch": torch.__version__,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256(weights),
    }
    (args.out / METADATA_FILE).write_text(json.dumps(meta, indent=1))
    write_report(args.out, split, metrics, meta)
    five = metrics["test"]["five_class"]
    print(f"{split.test_name}: accuracy {five['accuracy']:.4f}, macro-F1 {five['macro_f1']:.3f}; "
          + ", ".join(f"{c} F1 {s['f1']:.3f}" for c, s in five["per_class"].items()))
    print(f"wrote {weights}, {args.out / METADATA_FILE}, {args.out / 'report.md'} in {meta['train_seconds']} s")


if __name__ == "__main__":
    main()
