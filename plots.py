"""Matplotlib figures in the app's dark palette.

Figures are built with ``matplotlib.figure.Figure``, not pyplot, so no global
registry keeps them alive: memory stays flat however many requests are served.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator

from preprocessing import SAMPLING_RATE, WINDOW_BEFORE

# Same colours as assets/style.css.
BACKGROUND = "#0d1117"
PANEL = "#161b22"
GRID = "#30363d"
TEXT = "#c9d1d9"
TRACE = "#58d5c9"
PEAK = "#ff7b72"
SALIENCY = "#f2cc60"

# Fixed margins, tick positions and plain text labels: tight_layout, automatic ticks, a legend and an
# image for the shading each cost 10 to 30 ms a request on this machine, more than drawing the beat.
MARGINS = {"left": 0.075, "right": 0.99, "top": 0.9, "bottom": 0.16}
SALIENCY_BAND = 5


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
    ax.yaxis.set_major_locator(MaxNLocator(5))
    return ax


def beat_figure(beat: np.ndarray, saliency: np.ndarray | None = None, title: str = "") -> Figure:
    """The beat as pasted against time from the R-peak, shaded where the decision was made."""
    beat = np.asarray(beat, dtype=float)
    time_ms = (np.arange(len(beat)) - WINDOW_BEFORE) * 1000 / SAMPLING_RATE
    fig = Figure(figsize=(9.6, 3.2), dpi=100)
    ax = _styled_axes(fig)
    span = np.ptp(beat)
    low, high = beat.min() - 0.1 * span, beat.max() + 0.18 * span
    if saliency is not None:
        ax.add_collection(_saliency_bands(time_ms, np.asarray(saliency), low, high))
        ax.text(0.995, 0.97, "shading: samples that drove the decision (Grad-CAM)", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color=SALIENCY)
    ax.plot(time_ms, beat, color=TRACE, linewidth=1.6, zorder=2)
    ax.axvline(0, color=PEAK, linewidth=0.8, linestyle="--", zorder=1)
    ax.plot([0], [beat[WINDOW_BEFORE]], "v", color=PEAK, markersize=7, zorder=3)
    ax.text(4, high - 0.04 * (high - low), "R-peak (sample 91)", ha="left", va="top", fontsize=7, color=PEAK)
    ax.set_xlim(time_ms[0], time_ms[-1])
    ax.xaxis.set_major_locator(FixedLocator([-200, -100, 0, 100, 200]))
    ax.set_ylim(low, high)
    ax.set_xlabel("time from R-peak (ms)")
    ax.set_ylabel("amplitude (as pasted)")
    if title:
        ax.set_title(title, fontsize=10)
    fig.subplots_adjust(**MARGINS)
    return fig


def _saliency_bands(time_ms: np.ndarray, saliency: np.ndarray, low: float, high: float) -> PolyCollection:
    """Vertical bands, one per SALIENCY_BAND samples, as opaque as the mean saliency under them."""
    bands = len(saliency) // SALIENCY_BAND
    edges = np.linspace(time_ms[0], time_ms[-1], bands + 1)
    weight = saliency[:bands * SALIENCY_BAND].reshape(bands, SALIENCY_BAND).mean(axis=1)
    rgb = to_rgb(SALIENCY)
    corners = [[(edges[i], low), (edges[i + 1], low), (edges[i + 1], high), (edges[i], high)] for i in range(bands)]
    return PolyCollection(corners, facecolors=[(*rgb, 0.55 * w) for w in weight], edgecolors="none", zorder=0)


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
        ax.xaxis.set_major_locator(FixedLocator(np.arange(np.ceil(seconds[0]), seconds[0] + span_s + 1e-9)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    fig.subplots_adjust(**MARGINS)
    return fig
