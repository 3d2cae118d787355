"""Matplotlib figures in the app's dark palette.

Figures are built with ``matplotlib.figure.Figure``, not pyplot, so no global
registry keeps them alive: memory stays flat however many requests are served.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from preprocessing import SAMPLING_RATE, WINDOW_BEFORE  # noqa: E402

# Same colours as assets/style.css.
BACKGROUND = "#0d1117"
PANEL = "#161b22"
GRID = "#30363d"
TEXT = "#c9d1d9"
TRACE = "#58d5c9"
PEAK = "#ff7b72"
SALIENCY = "#f2cc60"

# Fixed margins: tight_layout would measure every label on each request and cost more than the plot.
MARGINS = {"left": 0.075, "right": 0.99, "top": 0.9, "bottom": 0.16}
_SALIENCY_MAP = LinearSegmentedColormap.from_list(
    "saliency", [(*matplotlib.colors.to_rgb(SALIENCY), 0.0), (*matplotlib.colors.to_rgb(SALIENCY), 0.55)])


def _styled_axes(fig: Figure):
    ax = fig.subplots()
    fig.patch.set_facecolor(PANEL)
    ax.set_facecolor(BACKGROUND)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=TEXT, labelsize=8)
    ax.xaxis.label.set_color(TEXT)
    ax.yaxis.label.set_color(TEXT)
    ax.title.set_color(TEXT)
    ax.grid(color=GRID, linewidth=0.5)
    return ax


def beat_figure(beat: np.ndarray, saliency: np.ndarray | None = None, title: str = "") -> Figure:
    """The beat as pasted against time from the R-peak, shaded where the decision was made."""
    beat = np.asarray(beat, dtype=float)
    time_ms = (np.arange(len(beat)) - WINDOW_BEFORE) * 1000 / SAMPLING_RATE
    fig = Figure(figsize=(9.6, 3.2), dpi=100)
    ax = _styled_axes(fig)
    span = np.ptp(beat)
    low, high = beat.min() - 0.1 * span, beat.max() + 0.1 * span
    if saliency is not None:
        ax.imshow(np.asarray(saliency)[None, :], extent=(time_ms[0], time_ms[-1], low, high),
                  aspect="auto", cmap=_SALIENCY_MAP, vmin=0, vmax=1, interpolation="nearest", zorder=0)
    ax.plot(time_ms, beat, color=TRACE, linewidth=1.6, zorder=2)
    ax.axvline(0, color=PEAK, linewidth=0.8, linestyle="--", zorder=1)
    ax.plot([0], [beat[WINDOW_BEFORE]], "v", color=PEAK, markersize=7, zorder=3, label="R-peak (sample 91)")
    if saliency is not None:
        ax.fill_between([], [], color=SALIENCY, alpha=0.5, label="drove the decision (Grad-CAM)")
    ax.set_xlim(time_ms[0], time_ms[-1])
    ax.set_ylim(low, high)
    ax.set_xlabel("time from R-peak (ms)")
    ax.set_ylabel("amplitude (as pasted)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT)
    fig.subplots_adjust(**MARGINS)
    return fig


LABEL_COLOURS = {"N": TRACE, "L": "#d2a8ff", "R": "#d2a8ff", "V": PEAK, "A": SALIENCY}


def rhythm_figure(signal: np.ndarray, fs: float, samples: np.ndarray, labels: np.ndarray,
                  start_s: float = 0.0, span_s: float = 10.0) -> Figure:
    """A strip of the recording with each beat's label drawn at its R-peak."""
    first = int(max(0.0, start_s) * fs)
    last = min(len(signal), first + int(span_s * fs))
    seconds = np.arange(first, last) / fs
    strip = np.asarray(signal[first:last], dtype=float)
    fig = Figure(figsize=(9.6, 3.0), dpi=100)
    ax = _styled_axes(fig)
    ax.plot(seconds, strip, color=TEXT, linewidth=0.8)
    inside = (samples >= first) & (samples < last)
    top = strip.max() + 0.12 * np.ptp(strip) if len(strip) else 1.0
    for sample, label in zip(samples[inside], labels[inside]):
        colour = LABEL_COLOURS.get(label, TEXT)
        ax.plot(sample / fs, signal[sample], "o", color=colour, markersize=3)
        ax.text(sample / fs, top, label, color=colour, ha="center", va="bottom", fontsize=8, fontweight="bold")
    if len(strip):
        ax.set_ylim(strip.min() - 0.05 * np.ptp(strip), top + 0.15 * np.ptp(strip))
        ax.set_xlim(seconds[0], seconds[0] + span_s)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    fig.subplots_adjust(**MARGINS)
    return fig
