"""The fastest app with the same interface as app.py's /predict: the floor bench.py measures the app against.

Same Gradio, same input (text) and outputs (verdict HTML, class probabilities, a PNG plot of the
same size), the same queue and session settings; every answer is computed once at start-up, so a
request costs only what Gradio itself costs.
"""

from __future__ import annotations

import base64

import gradio as gr
import numpy as np
from gradio.components.plot import PlotData

from ecg import plots
from ecg.synthetic import synthetic_beat

PNG = plots.beat_png(synthetic_beat(), np.linspace(0, 1, 180), "N: Normal beat, 97% confident")
VERDICT = '<div class="verdict verdict-N"><div class="verdict-class">N: Normal beat</div></div>'
FIGURE = PlotData(type="matplotlib", plot="data:image/png;base64," + base64.b64encode(PNG).decode())
PROBABILITIES = {"Normal beat (N)": 0.97, "Left bundle branch block beat (L)": 0.01,
                 "Right bundle branch block beat (R)": 0.01, "Premature ventricular contraction (V)": 0.005,
                 "Atrial premature beat (A)": 0.005}


def answer(text: str):
    return VERDICT, PROBABILITIES, FIGURE


with gr.Blocks(title="floor") as demo:
    text = gr.Textbox()
    outputs = [gr.HTML(), gr.Label(num_top_classes=5), gr.Plot(format="png")]
    gr.Button("Analyze").click(answer, text, outputs, api_name="predict")
demo.queue(default_concurrency_limit=2)

if __name__ == "__main__":
    demo.launch(state_session_capacity=50)
