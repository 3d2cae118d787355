"""Matplotlib figures in the app's dark palette.

Figures are built with ``matplotlib.figure.Figure``, not pyplot, so no global
registry keeps them alive: memory stays flat however many requests are served.
The single-beat plot reuses a few canvases instead, because it is on every request's path.
"""

from __future__ import annotations

import io
import queue
from collections import OrderedDict

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, MaxNLocator
from matplotlib.transforms import blended_transform_factory
from PIL import Image

from ecg.preprocessing import BEAT_LENGTH, SAMPLING_RATE, WINDOW_BEFORE

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
# The beat figure is drawn at 5:3 with large type so that it stays readable when a phone shrinks it to
# about 340 px wide (at 9.6 x 3.2 inches it became a strip 90 px high with 4 px ticks).
BEAT_FIGSIZE = (6.0, 3.6)
BEAT_MARGINS = {"left": 0.13, "right": 0.98, "top": 0.79, "bottom": 0.17}
AMPLITUDE_TICKS = 5
SALIENCY_BAND = 5
SALIENCY_OPACITY = 0.55
# The PNG's palette: as many shades of the saliency colour, then the colours of reference plots.
SHADING_LEVELS = 64
PNG_COLOURS = 256
_OPACITIES = np.linspace(0, SALIENCY_OPACITY, SHADING_LEVELS)[:, None]
SHADES_RGBA = np.column_stack([
    np.round(255 * ((1 - _OPACITIES) * to_rgb(BACKGROUND) + _OPACITIES * np.array(to_rgb(SALIENCY)))),
    np.full(SHADING_LEVELS, 255)]).astype(np.uint8)
# Labels and titles kept as pixels per canvas: a few hundred titles (class x confidence) and tick labels.
TEXT_CACHE_SIZE = 384
TIME_TICKS_MS = np.array([-200, -100, 0, 100, 200])
BEAT_TIME_MS = (np.arange(BEAT_LENGTH) - WINDOW_BEFORE) * 1000 / SAMPLING_RATE


def _styled_axes(fig: Figure, fontsize: float = 8):
    ax = fig.subplots()
    fig.patch.set_facecolor(PANEL)
    ax.set_facecolor(BACKGROUND)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=TEXT, labelsize=fontsize)
    ax.xaxis.label.set_color(TEXT)
    ax.yaxis.label.set_color(TEXT)
    ax.title.set_color(TEXT)
    ax.grid(color=GRID, linewidth=0.5)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    return ax


class BeatCanvas:
    """One reusable figure for single beats, drawn by blitting and encoded straight to PNG.

    The frame, the notes and the axis labels are drawn once and kept as a bitmap; a request redraws only
    what is inside the axes, the amplitude ticks and the title. Rendering text took half of what was left
    (the title 4 ms, each amplitude label 1 ms), so each label or title, once drawn, is kept as pixels and
    pasted where it goes next time. Building, drawing and encoding a new figure cost about 30 ms a request
    on 2 cores; this costs about 4.
    """

    # The PNG palette, found once by the first canvas and shared by all: see _png_palette.
    palette: Image.Image | None = None

    def __init__(self) -> None:
        self.figure = Figure(figsize=BEAT_FIGSIZE, dpi=100)
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.axes = _styled_axes(self.figure, fontsize=11)
        # The time grid spans the axes' height whatever the amplitude: x in ms, y in axes fraction.
        across = blended_transform_factory(ax.transData, ax.transAxes)
        ax.xaxis.grid(False)
        time_grid = ax.vlines(TIME_TICKS_MS[TIME_TICKS_MS != 0], 0, 1, transform=across, colors=GRID, linewidth=0.5)
        # Amplitude ticks are plain texts and grid lines placed by hand: drawing the y-axis itself took 6.5 of
        # the plot's 15 ms a request.
        ax.yaxis.set_visible(False)
        ax.yaxis.grid(False)
        self.amplitude_grid = LineCollection([], transform=ax.transAxes, colors=GRID, linewidths=0.5, zorder=0.5)
        ax.add_collection(self.amplitude_grid, autolim=False)
        self.amplitude_labels = [self.figure.text(BEAT_MARGINS["left"] - 0.012, 0, "", fontsize=11, color=TEXT,
                                                  ha="right", va="center") for _ in range(AMPLITUDE_TICKS + 2)]
        peak_line = ax.axvline(0, color=PEAK, linewidth=0.8, linestyle="--")
        (self.trace,) = ax.plot(BEAT_TIME_MS, np.zeros_like(BEAT_TIME_MS), color=TRACE, linewidth=1.6)
        (self.peak,) = ax.plot([0], [0], "v", color=PEAK, markersize=7)
        ax.set_xlim(BEAT_TIME_MS[0], BEAT_TIME_MS[-1])
        # The beat is scaled into fixed limits and the amplitude labels give its own values: new limits for
        # each beat cost 0.27 ms.
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(FixedLocator(TIME_TICKS_MS))
        ax.set_xlabel("time from R-peak (ms)", fontsize=11)
        self.figure.subplots_adjust(**BEAT_MARGINS)
        self.figure.text(0.018, (BEAT_MARGINS["top"] + BEAT_MARGINS["bottom"]) / 2, "amplitude (as pasted)",
                         fontsize=11, color=TEXT, rotation=90, ha="left", va="center")
        top, left, right = BEAT_MARGINS["top"], BEAT_MARGINS["left"], BEAT_MARGINS["right"]
        # Centred: the app lays its label badge over the figure's top-left corner.
        self.title = self.figure.text((left + right) / 2, top + 0.14, "", fontsize=13, color=TEXT,
                                      ha="center", va="center")
        self.figure.text(left, top + 0.05, "▼ - - R-peak (sample 91)", fontsize=10, color=PEAK,
                         ha="left", va="center")
        self.figure.text(right, top + 0.05, "shading: what drove the decision", fontsize=10, color=SALIENCY,
                         ha="right", va="center")
        # The background bitmap holds the frame, the notes and the labels; everything else is redrawn on
        # each beat in this order, over the shading and the frame.
        self.changing = (self.amplitude_grid, self.trace, self.peak, self.title, *self.amplitude_labels)
        for artist in self.changing:
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.drawn_texts: OrderedDict[tuple, tuple[object, np.ndarray]] = OrderedDict()
        self._place_shading()
        self._keep_frame(time_grid, peak_line, *ax.spines.values())
        if BeatCanvas.palette is None:
            BeatCanvas.palette = _png_palette(self)

    def _place_shading(self) -> None:
        """The pixel rows inside the axes, and for each pixel column the saliency band its centre lies in.

        The shading is painted straight into the pixels: Matplotlib's translucent rectangles cost 1.6 ms a
        beat, a third of the drawing. Inside the axes the background is plain, so each band's colour is known.
        """
        x0, y0, x1, y1 = self.axes.bbox.extents
        height = self.canvas.get_width_height()[1]
        self.shaded_rows = slice(round(height - y1), round(height - y0))
        self.shaded_columns = slice(round(x0), round(x1))
        edges_ms = np.linspace(BEAT_TIME_MS[0], BEAT_TIME_MS[-1], BEAT_LENGTH // SALIENCY_BAND + 1)
        edges_px = self.axes.transData.transform(np.column_stack([edges_ms, np.zeros_like(edges_ms)]))[:, 0]
        centres = np.arange(self.shaded_columns.start, self.shaded_columns.stop) + 0.5
        self.column_band = np.clip(np.searchsorted(edges_px, centres) - 1, 0, len(edges_px) - 2)

    def _keep_frame(self, *frame) -> None:
        """The pixels that the frame, the time grid and the R-peak line cover inside the shaded area, with how
        much they cover them: drawn alone on a clear canvas once, then laid over each beat's shading (drawing
        them each time took 0.9 ms a beat)."""
        self.canvas.get_renderer().clear()
        for artist in frame:
            self.figure.draw_artist(artist)
        drawn = np.asarray(self.canvas.buffer_rgba())[self.shaded_rows, self.shaded_columns].astype(float)
        self.frame_at = np.nonzero(drawn[..., 3])
        self.frame_cover = drawn[*self.frame_at, 3:] / 255
        self.frame_colour = drawn[*self.frame_at, :3] * self.frame_cover
        self.canvas.restore_region(self.background)

    def _shade(self, saliency: np.ndarray) -> None:
        """Each band of SALIENCY_BAND samples shaded by its mean saliency, in one of SHADING_LEVELS shades,
        under the frame."""
        bands = len(saliency) // SALIENCY_BAND
        weight = np.asarray(saliency)[:bands * SALIENCY_BAND].reshape(bands, SALIENCY_BAND).mean(axis=1)
        level = np.round(np.clip(weight, 0, 1) * (SHADING_LEVELS - 1)).astype(int)[self.column_band]
        pixels = np.asarray(self.canvas.buffer_rgba())
        pixels.view(np.uint32)[self.shaded_rows, self.shaded_columns, 0] = SHADES_RGBA.view(np.uint32)[level, 0]
        under = SHADES_RGBA[level[self.frame_at[1]], :3]
        framed = np.round(self.frame_colour + (1 - self.frame_cover) * under)
        pixels[self.shaded_rows, self.shaded_columns][*self.frame_at, :3] = framed

    def _render(self, beat: np.ndarray, saliency: np.ndarray, title: str) -> Image.Image:
        """Draw a beat into the canvas and return its pixels as an RGB image."""
        beat = np.asarray(beat, dtype=float)
        span = np.ptp(beat)
        low, high = beat.min() - 0.1 * span, beat.max() + 0.18 * span
        self._amplitude_ticks(low, high)
        scaled = (beat - low) / (high - low if high > low else 1.0)
        self.trace.set_ydata(scaled)
        self.peak.set_ydata([scaled[WINDOW_BEFORE]])
        self.title.set_text(title)
        self.canvas.restore_region(self.background)
        self._shade(saliency)
        for artist in self.changing:
            self._draw(artist)
        # The canvas's RGBA buffer read as it is: a NumPy view of its RGB channels took 1.6 ms to copy.
        width, height = self.canvas.get_width_height()
        return Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")

    def _draw(self, artist) -> None:
        """Draw one changing artist; a text drawn before is pasted from its kept pixels, moved to its place.

        Texts lie on the plain panel outside the axes, and every text's anchor is on whole pixels, so a paste
        is the same pixels a new drawing would give.
        """
        if not isinstance(artist, Text):
            self.figure.draw_artist(artist)
            return
        if not artist.get_text():
            return
        anchor = artist.get_transform().transform(artist.get_position())
        key = (artist.get_text(), artist.get_fontsize(), artist.get_color(), artist.get_ha())
        if key in self.drawn_texts:
            self.drawn_texts.move_to_end(key)
            region, drawn_at = self.drawn_texts[key]
            dx, dy = np.round(anchor - drawn_at).astype(int)
            x1, y1, x2, y2 = region.get_extents()
            self.canvas.restore_region(region, bbox=(x1, y1, x2, y2), xy=(x1 + dx, y1 - dy))
            return
        self.figure.draw_artist(artist)
        extent = artist.get_window_extent(self.canvas.get_renderer()).padded(2)
        self.drawn_texts[key] = (self.canvas.copy_from_bbox(extent), anchor)
        if len(self.drawn_texts) > TEXT_CACHE_SIZE:
            self.drawn_texts.popitem(last=False)

    def _amplitude_ticks(self, low: float, high: float) -> None:
        """Grid lines and labels at round amplitudes, as the y-axis would place them."""
        ticks = MaxNLocator(AMPLITUDE_TICKS).tick_values(low, high)
        ticks = ticks[(ticks >= low) & (ticks <= high)]
        where = (ticks - low) / (high - low) if high > low else np.full(len(ticks), 0.5)
        self.amplitude_grid.set_segments([[(0, w), (1, w)] for w in where])
        bottom, top = BEAT_MARGINS["bottom"], BEAT_MARGINS["top"]
        height = self.canvas.get_width_height()[1]
        texts = tick_texts(ticks)
        for i, label in enumerate(self.amplitude_labels):
            shown = i < len(ticks)
            label.set_text(texts[i] if shown else "")
            # On a whole pixel, so that a kept label pasted here matches a new drawing of it.
            label.set_y(round((bottom + where[i] * (top - bottom)) * height) / height if shown else 0)

    def png(self, beat: np.ndarray, saliency: np.ndarray, title: str) -> bytes:
        """The beat as pasted against time from the R-peak, shaded where the decision was made.

        Encoded with a fixed palette of PNG_COLOURS: the RGB image took 5.7 ms to encode; a palette found
        for each image 2.0 ms to find and 1.0 to encode; the fixed one 0.4 to apply, with the same mean error
        (about 1.3 of 255) and a third of the RGB image's bytes.
        """
        rgb = self._render(beat, saliency, title)
        with io.BytesIO() as out:
            rgb.quantize(palette=self.palette, dither=Image.Dither.NONE).save(out, format="png", compress_level=1)
            return out.getvalue()


def tick_texts(ticks: np.ndarray) -> list[str]:
    """Short labels for evenly spaced ticks: only the decimals the spacing needs, thousands as k, millions as M
    (raw ADC counts stay as narrow as millivolts)."""
    if len(ticks) == 0:
        return []
    largest = np.abs(ticks).max()
    scale, suffix = (1e6, "M") if largest >= 1e7 else (1e3, "k") if largest >= 1e4 else (1.0, "")
    step = (ticks[1] - ticks[0]) / scale if len(ticks) > 1 else 1.0
    decimals = max(0, -int(np.floor(np.log10(abs(step))))) if step else 0
    return [f"{t / scale:.{decimals}f}{suffix}".replace("-", "−") for t in ticks]


def _png_palette(canvas: BeatCanvas) -> Image.Image:
    """Every shade of the saliency colour, and the commonest colours of four reference plots (a peaked
    beat each way up, a tall one and a sine; saliency rising, falling, alternating and wavy) drawn on
    `canvas`: the lines, texts and their antialiased edges over every shade."""
    t = np.arange(BEAT_LENGTH, dtype=float)
    beat = np.exp(-((t - WINDOW_BEFORE) / 4) ** 2) - 0.25 * np.exp(-((t - 130) / 12) ** 2)
    references = [(beat, np.linspace(0, 1, BEAT_LENGTH)), (-beat, np.linspace(1, 0, BEAT_LENGTH)),
                  (50 * beat, np.tile([0.0, 1.0], BEAT_LENGTH // 2)), (np.sin(t / 9), np.abs(np.sin(t / 7)))]
    drawn = np.concatenate([np.asarray(canvas._render(b, s, "N: Normal beat, 97% confident")) for b, s in references])
    common = Image.fromarray(drawn).quantize(PNG_COLOURS - SHADING_LEVELS, method=Image.Quantize.FASTOCTREE,
                                             dither=Image.Dither.NONE)
    colours = np.concatenate([SHADES_RGBA[:, :3].ravel(),
                              np.asarray(common.getpalette()[:3 * (PNG_COLOURS - SHADING_LEVELS)], dtype=np.uint8)])
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours.tolist())
    return palette


_idle_canvases: queue.SimpleQueue[BeatCanvas] = queue.SimpleQueue()


def beat_png(beat: np.ndarray, saliency: np.ndarray, title: str) -> bytes:
    """Render with an idle canvas, or a new one: concurrent requests never share a figure."""
    try:
        canvas = _idle_canvases.get_nowait()
    except queue.Empty:
        canvas = BeatCanvas()
    try:
        return canvas.png(beat, saliency, title)
    finally:
        _idle_canvases.put(canvas)


LABEL_COLOURS = {"N": TRACE, "L": "#d2a8ff", "R": "#d2a8ff", "V": PEAK, "A": SALIENCY}


def rhythm_figure(strip: np.ndarray, first: int, fs: float, samples: np.ndarray, labels: np.ndarray,
                  span_s: float = 10.0) -> Figure:
    """A stretch of the recording that begins at sample `first`, with each beat's label drawn at its R-peak."""
    strip = np.asarray(strip, dtype=float)
    last = first + len(strip)
    seconds = np.arange(first, last) / fs
    fig = Figure(figsize=(9.6, 3.0), dpi=100)
    ax = _styled_axes(fig)
    ax.plot(seconds, strip, color=TEXT, linewidth=0.8)
    inside = (samples >= first) & (samples < last)
    top = strip.max() + 0.12 * np.ptp(strip) if len(strip) else 1.0
    for sample, label in zip(samples[inside], labels[inside]):
        colour = LABEL_COLOURS.get(label, TEXT)
        ax.plot(sample / fs, strip[sample - first], "o", color=colour, markersize=3)
        ax.text(sample / fs, top, label, color=colour, ha="center", va="bottom", fontsize=8, fontweight="bold")
    if len(strip):
        ax.set_ylim(strip.min() - 0.05 * np.ptp(strip), top + 0.15 * np.ptp(strip))
        ax.set_xlim(seconds[0], seconds[0] + span_s)
        ax.xaxis.set_major_locator(FixedLocator(np.arange(np.ceil(seconds[0]), seconds[0] + span_s + 1e-9)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    fig.subplots_adjust(**MARGINS)
    return fig
