"""ECG Arrhythmia Classifier: the Gradio user interface.

Run with ``python app.py``; the port comes from GRADIO_SERVER_PORT (default 7860).
Everything computed here comes from inference.py, examples.py and plots.py.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import gradio as gr

import examples as example_beats
import inference
import plots
from labels import CLASS_NAMES
from preprocessing import BEAT_LENGTH, SAMPLING_RATE, WINDOW_BEFORE

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
Database</a> (Moody &amp; Mark, IEEE EMB Magazine 2001; Goldberger et al., PhysioNet, Circulation 2000), records of
patients DS1 only (de Chazal et al. 2004). API: <code>/predict</code> via gradio_client.</div>"""


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
    if reference:
        agrees = reference == result.label
        parts.append(f'<div class="verdict-reference">Reference annotation (MIT-BIH): {reference}, '
                     f'{html.escape(CLASS_NAMES[reference])}: <span class="{"match" if agrees else "mismatch"}">'
                     f'{"the model agrees" if agrees else "the model disagrees"}</span></div>')
    parts.append("</div>")
    return "".join(parts)


def analyze(text: str, reference: str | None = None):
    """Classify a pasted beat: verdict, probabilities of all classes, and the explained plot."""
    try:
        beat = inference.parse_beat(text)
        result = inference.explain(beat)
    except inference.InputError as err:
        raise gr.Error(str(err), title="Cannot read this beat") from None
    except Exception:
        log.exception("analysis failed")
        raise gr.Error(APOLOGY, title="Internal error") from None
    probabilities = {_label_name(c): p for c, p in result.probabilities.items()}
    figure = plots.beat_figure(beat, result.saliency,
                               f"{result.label}: {result.name}, {result.confidence:.0%} confident")
    return verdict_html(result, reference), probabilities, figure


def build() -> gr.Blocks:
    examples, examples_note = example_beats.load_examples()
    by_title = {e.title: e for e in examples}
    with gr.Blocks(title="ECG Arrhythmia Classifier") as demo:
        gr.HTML(HEADER)
        gr.HTML(DISCLAIMER, elem_id="disclaimer")
        reference = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                text = gr.Textbox(label=f"Beat: {BEAT_LENGTH} samples, MLII, {SAMPLING_RATE} Hz",
                                  placeholder="e.g. -0.145, -0.145, -0.150, ... (180 values)", lines=7,
                                  max_lines=12, elem_id="beat-input")
                with gr.Row():
                    analyze_btn = gr.Button("Analyze", variant="primary", elem_id="analyze")
                    clear_btn = gr.Button("Clear", elem_id="clear")
                example = gr.Dropdown(choices=list(by_title), value=None, label="Example beats from DS2 patients",
                                      info=examples_note, interactive=bool(examples), elem_id="examples")
            with gr.Column(scale=3, min_width=300):
                verdict = gr.HTML(EMPTY_VERDICT, elem_id="verdict")
                probabilities = gr.Label(label="Class probabilities", num_top_classes=5, elem_id="probabilities")
        plot = gr.Plot(label="The beat, and the samples that drove the decision", elem_id="beat-plot")
        gr.HTML(FOOTER)

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
    return demo


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


demo = build()
demo.queue(default_concurrency_limit=2)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    demo.launch(theme=theme(), css_paths=[ASSETS / "style.css"])
