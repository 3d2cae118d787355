"""The single-beat plot: a reused, blitted canvas must draw each beat exactly as a fresh figure would."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from ecg import plots
from ecg.synthetic import varied_beat


def saliency_of(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, 180)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def test_a_beat_plot_is_a_png_that_a_phone_shrinks_to_a_readable_height():
    image = Image.open(io.BytesIO(plots.beat_png(varied_beat(0), saliency_of(0), "N: normal, 97% confident")))
    assert image.format == "PNG" and image.size == (600, 360)
    shrunk_to_phone = 340 / image.size[0]
    assert image.size[1] * shrunk_to_phone >= 200


def test_the_palette_png_shows_what_was_drawn():
    canvas = plots.BeatCanvas()
    png = canvas.png(varied_beat(5), saliency_of(5), "V: premature ventricular contraction, 88% confident")
    drawn = np.asarray(canvas.canvas.buffer_rgba())[..., :3].astype(int)
    error = np.abs(pixels(png) - drawn).max(axis=2)
    assert error.mean() < 1.5
    assert (error > 24).mean() < 0.001


def test_a_plot_shows_nothing_left_over_from_the_beat_before():
    canvas = plots.BeatCanvas()
    first = canvas.png(varied_beat(1), saliency_of(1), "N: normal")
    other = canvas.png(varied_beat(2) * 1000, saliency_of(2), "V: premature ventricular contraction")
    again = canvas.png(varied_beat(1), saliency_of(1), "N: normal")
    assert first == again
    assert np.abs(pixels(first) - pixels(other)).max() > 100


def test_labels_kept_from_an_earlier_beat_are_the_pixels_a_new_drawing_gives():
    beat = varied_beat(6)
    used = plots.BeatCanvas()
    used.png(beat, saliency_of(6), "N: normal, 90% confident")
    # Shifted up, the same amplitude labels fall on other rows; the same title is pasted where it was.
    shifted = beat + 0.37 * np.ptp(beat)
    again = used.png(shifted, saliency_of(7), "N: normal, 90% confident")
    fresh = plots.BeatCanvas().png(shifted, saliency_of(7), "N: normal, 90% confident")
    assert used.drawn_texts, "nothing was kept"
    assert np.array_equal(pixels(again), pixels(fresh))


def test_blitting_and_painted_shading_draw_what_matplotlib_draws():
    canvas = plots.BeatCanvas()
    saliency = saliency_of(4)
    canvas.png(varied_beat(3) * 200, saliency, "A: atrial premature beat")
    blitted = np.asarray(canvas.canvas.buffer_rgba())[..., :3].astype(int)
    # Matplotlib's own drawing of the same figure: the shading as translucent rectangles, every artist drawn anew.
    weight = saliency.reshape(-1, plots.SALIENCY_BAND).mean(axis=1)
    edges = np.linspace(plots.BEAT_TIME_MS[0], plots.BEAT_TIME_MS[-1], len(weight) + 1)
    for start, end, w in zip(edges[:-1], edges[1:], weight):
        canvas.axes.axvspan(start, end, color=plots.SALIENCY, alpha=plots.SALIENCY_OPACITY * w, linewidth=0,
                            zorder=0)
    for artist in canvas.changing:
        artist.set_animated(False)
    canvas.canvas.draw()
    redrawn = np.asarray(canvas.canvas.buffer_rgba())[..., :3].astype(int)
    error = np.abs(blitted - redrawn).max(axis=2)
    # The painted shades are one of 64: within a level or two of Matplotlib's, everywhere.
    assert (error > 3).mean() < 0.001


def test_concurrent_requests_each_get_their_own_beat():
    seeds = list(range(8)) * 4
    expected = {s: plots.BeatCanvas().png(varied_beat(s), saliency_of(s), f"beat {s}") for s in set(seeds)}
    with ThreadPoolExecutor(4) as pool:
        drawn = list(pool.map(lambda s: plots.beat_png(varied_beat(s), saliency_of(s), f"beat {s}"), seeds))
    assert all(png == expected[s] for s, png in zip(seeds, drawn))


@pytest.mark.parametrize("ticks, texts", [
    ([-0.4, 0.0, 0.4, 0.8], ["−0.4", "0.0", "0.4", "0.8"]),
    ([100_000, 150_000, 200_000], ["100k", "150k", "200k"]),
    ([0.001, 0.0015, 0.002], ["0.0010", "0.0015", "0.0020"]),
    ([-250, 0, 250], ["−250", "0", "250"]),
])
def test_amplitude_labels_stay_short_in_millivolts_microvolts_and_adc_counts(ticks, texts):
    assert plots.tick_texts(np.array(ticks, dtype=float)) == texts
