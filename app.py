"""ECG Arrhythmia Classifier: the Gradio user interface.

Run with ``python app.py``; the port comes from GRADIO_SERVER_PORT (default 7860).
Everything computed here comes from inference.py, examples.py and plots.py.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.components.plot import PlotData

import inference
import lazy_sessions
from ecg import context, plots, record, record_files
from ecg import examples as example_beats
from ecg.labels import CLASS_NAMES
from ecg.preprocessing import BEAT_LENGTH, SAMPLING_RATE, WINDOW_BEFORE

log = logging.getLogger("ecg-app")
ASSETS = Path(__file__).resolve().parent / "assets"
EMPTY_VERDICT = '<div class="verdict-empty">Paste a beat and press Enter or Analyze.</div>'
APOLOGY = "Sorry, something went wrong on our side while analysing this beat. The error was logged; please try again."

HEADER = f"""
<div id="app-header">
<h1>ECG Arrhythmia Classifier</h1>
<p>Paste <span class="accent">one heartbeat: {BEAT_LENGTH} comma-separated samples of lead MLII at
{SAMPLING_RATE} Hz</span> ({BEAT_LENGTH / SAMPLING_RATE:.1f} s), with the R-peak at sample {WINDOW_BEFORE + 1}
(the MIT-BIH convention). Any linear unit works: mV, µV or raw ADC values. The model tells apart
five beat classes: normal (N), left and right bundle branch block (L, R), premature ventricular
contraction (V) and atrial premature beat (A).</p>
</div>
"""
DISCLAIMER = ("<b>Research and teaching tool, not a medical device.</b> It has not been cleared for clinical use "
              "and must not guide diagnosis or treatment. Paced, fusion and other beats lie outside its five classes.")
FOOTER = """<div id="app-footer">Trained on the <a href="https://physionet.org/content/mitdb/">MIT-BIH Arrhythmia
Database</a> (Moody &amp; Mark, IEEE EMB Magazine 2001), patients of its DS1 only (de Chazal et al. 2004), the
<a href="https://physionet.org/content/svdb/">MIT-BIH Supraventricular Arrhythmia Database</a> (Greenwald et al. 1990)
and <a href="https://physionet.org/content/ptb-xl/">PTB-XL</a> (Wagner et al., Scientific Data 2020), with noise of the
<a href="https://physionet.org/content/nstdb/">MIT-BIH Noise Stress Test Database</a> (Moody et al. 1984); all from
PhysioNet (Goldberger et al., Circulation 2000). API: <code>/predict</code> via gradio_client.</div>"""


def _label_name(label: str) -> str:
    return f"{CLASS_NAMES[label]} ({label})"


def verdict_html(result: inference.Explanation, reference: str | None) -> str:
    warnings = []
    if result.low_confidence:
        warnings.append(f"Low confidence: the model gives this class only {result.confidence:.0%}. "
                        "Treat the answer as uncertain.")
    if result.atypical:
        warnings.append("This beat looks unlike the beats the model learned from. It may be paced, a fusion "
                        "beat, noise, another lead or not centred on its R-peak: the five classes may not apply.")
    parts = [
        f'<div class="verdict verdict-{result.label}">',
        f'<div class="verdict-class">{result.label}: {html.escape(result.name)}</div>',
        f'<div class="verdict-meta">AAMI group {result.aami_group} · confidence '
        f'<span class="verdict-confidence">{result.confidence:.1%}</span></div>',
        *(f'<div class="verdict-warning">⚠ {html.escape(w)}</div>' for w in warnings),
    ]
    if result.right_share is not None:
        parts.append(f'<div class="verdict-meta">On patients it never trained on (cross-validation), '
                     f'{result.right_share:.0%} of its {result.label} calls were right.</div>')
    if reference:
        agrees = reference == result.label
        parts.append(f'<div class="verdict-reference">Reference annotation (MIT-BIH): {reference}, '
                     f'{html.escape(CLASS_NAMES[reference])}: <span class="{"match" if agrees else "mismatch"}">'
                     f'{"the model agrees" if agrees else "the model disagrees"}</span></div>')
    parts.append("</div>")
    return "".join(parts)


def refusal(err: Exception, title: str) -> gr.Error:
    """A refused input: one line in the server log (not Gradio's traceback) and the message for the user."""
    log.info("refused: %s: %s", title, err)
    return gr.Error(str(err), title=title, print_exception=False)


def analyze(text: str, reference: str | None = None):
    """Classify a pasted beat: verdict, probabilities of all classes, and the explained plot."""
    try:
        beat = inference.parse_beat(text)
        result = inference.explain(beat)
        png = plots.beat_png(beat, result.saliency, f"{result.label}: {result.name}, {result.confidence:.0%} confident")
    except inference.InputError as err:
        raise refusal(err, "Cannot read this beat") from None
    except Exception:
        log.exception("analysis failed")
        raise gr.Error(APOLOGY, title="Internal error", print_exception=False) from None
    probabilities = {_label_name(c): p for c, p in result.probabilities.items()}
    # Already a PNG, so Gradio passes it on as it is instead of drawing and encoding a figure a second time.
    figure = PlotData(type="matplotlib", plot="data:image/png;base64," + base64.b64encode(png).decode())
    return verdict_html(result, reference), probabilities, figure


STRIP_SECONDS = 10.0
# Gradio keeps a copy of the page's config and latest outputs for each session, and every API call is a
# new session: its default of 10,000 sessions let memory grow 142 MB per 1,000 requests (50 sessions:
# +34 to +42 MB). Older sessions past this many lose only an example's reference label or their strip slider.
SESSION_CAPACITY = 50
STRIP_STATE_SECONDS = 1800
AUTOMATIC_LEAD = "automatic"
TABLE_ROWS = 5000
TABLE_COLUMNS = ["time_s", "sample", "label", "confidence", "beat_label", "atypical", "rr_before_s", "rr_after_s"]


def context_switch_text() -> tuple[str, str]:
    """The context switch's label and note, from the context model that ships."""
    params = context.shipped_params(inference.WEIGHTS_DIR)
    reads = f" ({context.reads(params)})" if params else ""
    re_decides = f"{context.re_decides(params)} " if params else ""
    return (f"Read each beat in its context{reads}",
            f"{re_decides}Fitted on what the beat model answered for patients it never trained on (MIT-BIH DS1 "
            "and SVDB, cross-validated). Off: the beat model alone.")


def summary_html(name: str, lead: str, fs: float, counts: dict, agreed: dict | None, use_context: bool) -> str:
    per_class = " · ".join(f"{c} {n}" for c, n in counts["per_class"].items())
    source = (f"read each beat in its context ({context.reads(record.context_params())})" if use_context
              else "come from the beat model alone")
    rate = f"{counts['mean_heart_rate_bpm']:.0f} bpm" if counts["beats"] > 1 else "n/a"
    parts = [f'<div class="verdict"><div class="verdict-class">{counts["beats"]} beats in '
             f'{counts["duration_s"] / 60:.1f} min</div>',
             f'<div class="verdict-meta">Record {html.escape(name)}, lead {html.escape(lead)}, {fs:g} Hz · '
             f'mean heart rate {rate}</div>',
             f'<div class="verdict-meta">Found {counts["per_class"]["V"]} premature ventricular (V) and '
             f'{counts["per_class"]["A"]} atrial premature (A) beats · {per_class}</div>',
             f'<div class="verdict-meta">Labels {source}; the table keeps the beat model\'s own answer as '
             'beat_label.</div>']
    if counts["beats"] > TABLE_ROWS:
        parts.append(f'<div class="verdict-meta">The table below shows the first {TABLE_ROWS:,} beats; the CSV '
                     'download holds every beat.</div>')
    if counts["atypical"]:
        parts.append(f'<div class="verdict-warning">⚠ {counts["atypical"]} of {counts["beats"]} beats look unlike '
                     'the beats the model learned from (column atypical): they may be paced, fusion or noise, and '
                     'the five classes may not apply to them.</div>')
    if agreed:
        parts.append(f'<div class="verdict-reference">Against the uploaded .atr ({agreed["reference_beats"]} '
                     f'beats): detection sensitivity {agreed["sensitivity"]:.2%}, +P '
                     f'{agreed["positive_predictivity"]:.2%}; class agreement on {agreed["matched_known_beats"]} '
                     f'matched N/L/R/V/A beats {agreed["class_agreement"]:.1%}.{outside_classes(agreed)}</div>')
    parts.append("</div>")
    return "".join(parts)


def lead_choices(paths) -> list[tuple[str, str]]:
    """The lead picker's choices: automatic first, then each lead the uploaded header names."""
    return [("Automatic (MLII)", AUTOMATIC_LEAD)] + [
        (f"{i}: {name}", str(i)) for i, name in enumerate(record_files.lead_names(paths))]


def channel_number(channel) -> int | None:
    """The channel the lead picker or an API call asks for; None for the automatic choice (MLII)."""
    if channel in (None, "", AUTOMATIC_LEAD):
        return None
    try:
        return int(channel)
    except (TypeError, ValueError):
        raise inference.InputError(f"Lead '{str(channel)[:20]}' is not a channel number: choose a lead from the "
                                   "list, or leave it automatic for MLII.") from None


def outside_classes(agreed: dict) -> str:
    """What the reference beats outside the five classes were called, which class agreement leaves out."""
    if not agreed["matched_other_beats"]:
        return ""
    called = ", ".join(f"{pair} {n}" for pair, n in list(agreed["other_beats_called"].items())[:6])
    return (f' {agreed["matched_other_beats"]} matched reference beats lie outside the five classes and are not '
            f'in that figure (reference as label: {html.escape(called)}).')


@dataclass(frozen=True)
class Strip:
    """What the rhythm strip needs between slider moves: the recording's source on disk (read 10 s at a time),
    its beats and labels, and the folder that holds the source and the downloads."""

    source: record_files.Source
    samples: np.ndarray
    labels: np.ndarray
    folder: Path

    def figure(self, start_s: float):
        first = min(int(max(0.0, start_s) * self.source.fs), max(0, self.source.n_samples - 1))
        last = min(self.source.n_samples, first + int(STRIP_SECONDS * self.source.fs))
        return plots.rhythm_figure(self.source.read(first, last), first, self.source.fs, self.samples, self.labels,
                                   STRIP_SECONDS)


def forget_strip(strip: Strip | None) -> None:
    """Gradio drops a session's strip after STRIP_STATE_SECONDS: its folder goes with it."""
    if strip is not None:
        shutil.rmtree(strip.folder, ignore_errors=True)


def analyze_recording(files, fs, channel, use_context=True, progress=gr.Progress()):
    """Classify every beat of an uploaded recording: summary, strip, table and downloads. The recording is read
    a stretch at a time, as the command line reads it, so the app's memory does not grow with its length."""
    folder = Path(tempfile.mkdtemp(prefix="ecg-recording-"))
    try:
        progress(0.02, desc="reading the recording")
        source = record_files.open_uploads(files, fs, channel_number(channel), folder)
        table = record.analyze_stretches(source.read, source.n_samples, source.fs,
                                         lambda fraction, message: progress(0.05 + 0.85 * fraction, desc=message),
                                         use_context=bool(use_context))
        use_context = bool(use_context) and record.context_params() is not None
        reference = source.reference()
        agreed = record.agreement(table, reference, source.fs) if reference else None
    except inference.InputError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise refusal(err, "Cannot analyse this recording") from None
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        log.exception("record analysis failed")
        raise gr.Error(APOLOGY, title="Internal error", print_exception=False) from None
    csv_path = folder / f"{source.name}_beats.csv"
    table.to_csv(csv_path, index=False, float_format="%.6g")
    annotation_path = record.write_annotations(table, source.name, source.fs, folder)
    counts = record.summary(table, source.n_samples, source.fs)
    strip = Strip(source, table["sample"].to_numpy(), table["label"].to_numpy(), folder)
    duration = source.n_samples / source.fs
    return (summary_html(source.name, source.lead, source.fs, counts, agreed, use_context), strip.figure(0.0),
            gr.Slider(minimum=0, maximum=max(1, math.floor(duration - STRIP_SECONDS)), value=0, interactive=True),
            beats_table(table), [str(csv_path), str(annotation_path)], strip)


def beats_table(table):
    """The page's table of beats: the first TABLE_ROWS (a day holds about 100,000, which the page would hold in
    memory twice over to show); the CSV download holds every beat, and the summary says so."""
    return table[TABLE_COLUMNS].head(TABLE_ROWS).round(4)


def move_strip(strip: Strip | None, start_s: float):
    if strip is None:
        return gr.skip()
    try:
        return strip.figure(start_s)
    except inference.InputError as err:
        raise refusal(err, "Cannot move the strip") from None


def record_tab() -> None:
    gr.Markdown("Upload a whole single-lead recording: a WFDB record (**.hea and .dat**, optionally its **.atr** to "
                "compare against) or a **CSV/TXT** with one column of samples. Rates from 100 to 1000 Hz are "
                "resampled to 360 Hz; results are given at your file's own sample positions and times. "
                f"Uploads up to {record_files.MAX_UPLOAD_BYTES // 2**20} MB.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            files = gr.File(label="Recording files", file_count="multiple", elem_id="record-files",
                            file_types=sorted(record_files.WFDB_SUFFIXES | record_files.TEXT_SUFFIXES))
            fs = gr.Number(label="Sampling rate of a CSV/TXT (Hz)", value=360, minimum=record.MIN_FS,
                           maximum=record.MAX_FS, elem_id="record-fs")
            channel = gr.Dropdown(choices=lead_choices(None), value=AUTOMATIC_LEAD, label="Lead of a WFDB record",
                                  allow_custom_value=True, elem_id="record-channel")
            label, note = context_switch_text()
            use_context = gr.Checkbox(value=True, label=label, info=note, elem_id="record-rr")
            run = gr.Button("Analyze recording", variant="primary", elem_id="analyze-record")
        with gr.Column(scale=3, min_width=300):
            summary = gr.HTML('<div class="verdict-empty">Upload a recording and press Analyze recording.</div>',
                              elem_id="record-summary")
            downloads = gr.File(label="Downloads: beats as CSV, and a WFDB annotation file (.cnn)",
                                file_count="multiple", interactive=False, elem_id="record-downloads")
    strip_plot = gr.Plot(label=f"Rhythm strip, {STRIP_SECONDS:.0f} s, each beat labelled", format="png",
                         elem_id="record-strip")
    start = gr.Slider(0, STRIP_SECONDS, value=0, step=1, label="Start of the strip (s)", interactive=False,
                      elem_id="record-start")
    table = gr.Dataframe(label="Every beat", interactive=False, max_height=360, elem_id="record-table")
    strip = gr.State(None, time_to_live=STRIP_STATE_SECONDS, delete_callback=forget_strip)
    files.change(lambda paths: gr.Dropdown(choices=lead_choices(paths), value=AUTOMATIC_LEAD), files, channel,
                 api_name=False, queue=False)
    run.click(analyze_recording, [files, fs, channel, use_context],
              [summary, strip_plot, start, table, downloads, strip],
              api_name="analyze_record")
    start.release(move_strip, [strip, start], strip_plot, api_name=False)


def build() -> gr.Blocks:
    examples, examples_note = example_beats.load_examples()
    by_title = {e.title: e for e in examples}
    with gr.Blocks(title="ECG Arrhythmia Classifier") as demo:
        # One block for both: every API call builds a session holding each block's config (0.2 ms an HTML block).
        gr.HTML(f'{HEADER}<div id="disclaimer">{DISCLAIMER}</div>')
        with gr.Tab("Single beat"):
            single_beat_tab(examples, examples_note, by_title)
        with gr.Tab("Whole recording"):
            record_tab()
        gr.HTML(FOOTER)
    return demo


def single_beat_tab(examples: list[example_beats.Example], examples_note: str,
                    by_title: dict[str, example_beats.Example]) -> None:
    reference = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            text = gr.Textbox(label=f"Beat: {BEAT_LENGTH} samples, MLII, {SAMPLING_RATE} Hz",
                              placeholder="e.g. -0.145, -0.145, -0.150, ... (180 values; Enter analyses)", lines=1,
                              max_lines=8, elem_id="beat-input")
            with gr.Row():
                analyze_btn = gr.Button("Analyze", variant="primary", elem_id="analyze")
                clear_btn = gr.Button("Clear", elem_id="clear")
            example = gr.Dropdown(choices=list(by_title), value=None, label="Example beats from DS2 patients",
                                  info=examples_note, interactive=bool(examples), elem_id="examples")
        with gr.Column(scale=3, min_width=300):
            verdict = gr.HTML(EMPTY_VERDICT, elem_id="verdict")
            probabilities = gr.Label(label="Class probabilities", num_top_classes=5, elem_id="probabilities")
    plot = gr.Plot(label="The beat, and the samples that drove the decision", format="png", elem_id="beat-plot")

    outputs = [verdict, probabilities, plot]
    analyze_btn.click(analyze, [text, reference], outputs, api_name="predict")
    text.submit(analyze, [text, reference], outputs, api_name=False)
    text.input(lambda: None, None, reference, api_name=False, queue=False)

    def pick(title: str | None):
        chosen = by_title.get(title)
        return (chosen.as_text(), chosen.label) if chosen else (gr.skip(), None)

    example.input(pick, example, [text, reference], api_name=False, queue=False).then(
        analyze, [text, reference], outputs, api_name=False)
    clear_btn.click(lambda: ("", None, None, EMPTY_VERDICT, None, None), None,
                    [text, example, reference, verdict, probabilities, plot], api_name=False, queue=False)


def theme() -> gr.themes.Base:
    """The page always dark, whatever the browser prefers."""
    colours = {
        "body_background_fill": "#0d1117", "body_text_color": "#c9d1d9", "body_text_color_subdued": "#8b949e",
        "background_fill_primary": "#0d1117", "background_fill_secondary": "#161b22",
        "block_background_fill": "#161b22", "block_border_color": "#30363d", "block_label_text_color": "#a6b1bd",
        "block_title_text_color": "#c9d1d9", "border_color_primary": "#30363d",
        "input_background_fill": "#0d1117", "input_border_color": "#30363d", "input_placeholder_color": "#6e7681",
        "button_primary_background_fill": "#1f8f85", "button_primary_background_fill_hover": "#26a69a",
        "button_primary_text_color": "#ffffff", "button_secondary_background_fill": "#21262d",
        "button_secondary_background_fill_hover": "#30363d", "button_secondary_text_color": "#c9d1d9",
        "color_accent": "#58d5c9", "color_accent_soft": "#1b3b39", "link_text_color": "#58d5c9",
        "error_background_fill": "#3d1418", "error_border_color": "#ff7b72", "error_text_color": "#ffb3ad",
        "table_even_background_fill": "#161b22", "table_odd_background_fill": "#0d1117",
    }
    base = gr.themes.Base(primary_hue="teal", neutral_hue="slate",
                          font=[gr.themes.Font(f) for f in ("Inter", "ui-sans-serif", "system-ui", "sans-serif")],
                          font_mono=[gr.themes.Font(f) for f in ("ui-monospace", "SFMono-Regular", "monospace")])
    dark = {f"{k}_dark": v for k, v in colours.items() if hasattr(base, f"{k}_dark")}
    return base.set(**colours, **dark)


lazy_sessions.install()
demo = build()
demo.queue(default_concurrency_limit=2)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # layout.css styles the page's frame, which Gradio's scoping of css_paths does not reach.
    demo.launch(theme=theme(), css_paths=[ASSETS / "style.css"],
                head=f"<style>{(ASSETS / 'layout.css').read_text()}</style>",
                max_file_size=record_files.MAX_UPLOAD_BYTES, state_session_capacity=SESSION_CAPACITY)
