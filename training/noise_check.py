"""How far noise and a misplaced R-peak move the answers that a choice of output offsets gives, on held-out
training patients.

The offsets decide every beat whose classes are close, and noise makes more beats close. Searched for
macro-F1 alone, run 9's offsets (L +2.5, R +2.5, V -1) turned noisy normal beats into L and R: on DS2 its
accuracy fell by 0.158 with muscle artefact at 12 dB, and by 0.014 with the same network and no offsets.
So each fold model also answers a sample of its held-out beats with the training noise (the first 20
minutes of the bw and ma recordings, em, mains and white) at the issue's SNRs, and a choice pays for any
drop in accuracy beyond the issue's targets, at a price per unit of drop that `--noise-penalty` sets.
At 0 the drops are measured and reported but choose nothing (what run 9 was chosen by). At 5 (run 10,
the default since run 14) the search bought 0.0025 of macro-F1 with 0.0005 of drop beyond
0.03; at 100 (run 11) the targets are in effect a limit from the start, and the search, one class at a
time from no offsets, stopped far inside them (0.016 / 0.042) at a lower score. So since run 14 a search
with a price finishes with LIMIT_PRICE from where the priced search ended: the targets become a limit
only once the offsets are near their best.

A user's peak picker is rarely on MIT-BIH's fiducial to the sample, so the same sample is also answered with
the R-peak moved by PEAK_MOVES samples, and macro-F1 lost beyond the issue's placement targets is priced
the same way (since run 28).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecg import evaluation
from training import augment

SNRS_DB = (12.0, 6.0)
ALLOWED_DROP = {12.0: 0.05, 6.0: 0.15}  # issue 41's targets for accuracy under noise (issue 7's were 0.03 and 0.10)
# R-peak moves measured (samples, positive: later), and the database-balanced macro-F1 a priced move may cost (issue
# 41's target). Moves of 20 samples are measured, not priced: where finding PVCs and a peak 20 samples off pull
# against each other, PVCs win (pricing them moved V's offset from -1.5 to -2.0 and DS2's V F1 from 0.619 to 0.504).
PEAK_MOVES = (-20, -10, 10, 20)
ALLOWED_MOVE_LOSS = {-10: 0.02, 10: 0.02}
SAMPLE_PER_FOLD = 4000
LIMIT_PRICE = 1000.0  # per unit of drop beyond ALLOWED_DROP: any excess outweighs every macro-F1 gain


def sample_rows(n_held: int) -> np.ndarray:
    """At most SAMPLE_PER_FOLD evenly spaced held-out beats: every patient is in the sample, in proportion to its
    beats."""
    return np.arange(0, n_held, -(-n_held // SAMPLE_PER_FOLD))


def noisy_windows(centred: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """Centred 180-sample windows with training noise at `snr_db` (nst's SNR), from their own generator so that
    drawing them leaves training's draws as they were."""
    settings = augment.Settings(noisy_share=1.0, snr_db=(snr_db, snr_db))
    return augment.add_noise(centred.astype(np.float64), np.random.default_rng(seed), settings)


@dataclass(frozen=True)
class Losses:
    """What noise costs in accuracy at each SNR, and a moved R-peak in macro-F1 at each move (both the mean over
    databases)."""

    noise: dict[float, float]
    moves: dict[int, float]

    def noise_excess(self) -> float:
        return sum(max(0.0, drop - ALLOWED_DROP[snr]) for snr, drop in self.noise.items())

    def move_excess(self) -> float:
        return sum(max(0.0, loss - ALLOWED_MOVE_LOSS[move]) for move, loss in self.moves.items()
                   if move in ALLOWED_MOVE_LOSS)


@dataclass(frozen=True)
class NoiseCheck:
    """Held-out beats (their rows among all training beats), their log-probabilities clean, with noise at each SNR
    and with the R-peak moved by each of PEAK_MOVES, their classes and databases."""

    rows: np.ndarray
    clean: np.ndarray
    noisy: dict[float, np.ndarray]
    y: np.ndarray
    codes: np.ndarray
    n_databases: int
    price: float = 0.0  # database-balanced macro-F1 a choice pays per unit lost beyond the targets
    moved: dict[int, np.ndarray] = field(default_factory=dict)
    prices_moves: bool = False  # whether what the moves lose is paid for too, or only measured

    def restricted(self, keep: np.ndarray) -> "NoiseCheck":
        return NoiseCheck(self.rows[keep], self.clean[keep], {s: p[keep] for s, p in self.noisy.items()}, self.y[keep],
                          self.codes[keep], self.n_databases, self.price, {m: p[keep] for m, p in self.moved.items()},
                          self.prices_moves)

    def answers(self, offsets: np.ndarray) -> tuple[np.ndarray, dict[float, np.ndarray], dict[int, np.ndarray]]:
        """Classes answered clean, with noise and with the R-peak moved, under these output offsets."""
        return ((self.clean + offsets).argmax(axis=1), {s: (p + offsets).argmax(axis=1) for s, p in self.noisy.items()},
                {m: (p + offsets).argmax(axis=1) for m, p in self.moved.items()})

    def losses(self, clean: np.ndarray, noisy: dict[float, np.ndarray], moved: dict[int, np.ndarray]) -> Losses:
        """What noise and each move cost these answers."""
        return Losses({s: self._accuracy(clean) - self._accuracy(answer) for s, answer in noisy.items()},
                      {m: self._macro_f1(clean) - self._macro_f1(answer) for m, answer in moved.items()})

    def _accuracy(self, predicted: np.ndarray) -> float:
        beats = np.bincount(self.codes, minlength=self.n_databases)
        right = np.bincount(self.codes, weights=predicted == self.y, minlength=self.n_databases)
        return float(np.mean(right[beats > 0] / beats[beats > 0]))

    def _macro_f1(self, predicted: np.ndarray) -> float:
        return evaluation.database_balanced_f1(self.y, predicted, self.codes, self.n_databases, self.clean.shape[1])

    def cost(self, losses: Losses, price: float | None = None) -> float:
        """What a choice pays for its losses beyond the targets (at this check's price unless given)."""
        excess = losses.noise_excess() + (losses.move_excess() if self.prices_moves else 0.0)
        return (self.price if price is None else price) * excess
