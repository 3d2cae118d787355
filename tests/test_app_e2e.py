"""The launched app through gradio_client: good beats are classified, bad ones refused, the server keeps serving."""

import base64
import io
import re

import pytest
from gradio_client import Client, handle_file
from PIL import Image

import inference
from databases import mitbih
from ecg import context, examples
from ecg.synthetic import synthetic_beat, synthetic_ecg
from measure.local_server import launched_app, running_app


@pytest.fixture(scope="module")
def app():
    env = {"MITDB_DIR": str(mitbih.default_data_dir())} if mitbih.has_data() else {}
    with launched_app(env) as launched:
        yield launched


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def text_of(beat):
    return ", ".join(f"{v:.4f}" for v in beat)


def test_predict_classifies_a_beat_with_probabilities_and_a_plot(client):
    verdict, label, plot = client.predict(text_of(synthetic_beat()), api_name="/predict")
    assert 'class="verdict' in verdict and "confidence" in verdict
    assert re.search(r"never trained on \(cross-validation\), \d+% of its [NLRVA] calls were right", verdict)
    assert len(label["confidences"]) == 5
    assert abs(sum(c["confidence"] for c in label["confidences"]) - 1) < 1e-4
    assert label["label"] in {c["label"] for c in label["confidences"]}
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/")


@pytest.mark.parametrize("text, message", [
    ("", "No samples given"),
    ("1, 2, three", "Value 3 is 'three'"),
    (", ".join(["1"] * 100), "Found 100 numbers"),
    (", ".join(["nan"] * 180), "not a finite number"),
    (", ".join(["2"] * 180), "flat"),
])
def test_bad_input_gets_its_message_and_the_server_keeps_serving(client, text, message):
    with pytest.raises(Exception, match=message):
        client.predict(text, api_name="/predict")
    verdict, label, _ = client.predict(text_of(synthetic_beat(seed=3)), api_name="/predict")
    assert len(label["confidences"]) == 5


def test_each_refused_input_is_one_line_in_the_server_log_not_a_traceback(app, client, tmp_path):
    before = len(app.log_text())
    for text in ("", "1, 2, three"):
        with pytest.raises(Exception, match="Cannot read this beat|No samples|is not a number"):
            client.predict(text, api_name="/predict")
    with pytest.raises(Exception, match="No file"):
        client.predict([], 360, None, True, api_name="/analyze_record")
    written = app.log_text()[before:]
    assert written.count("refused: ") == 3, written
    assert "Traceback" not in written and len(written.strip().splitlines()) == 3, written


def test_the_api_offers_single_beats_and_whole_recordings_only(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(endpoints) == ["/analyze_record", "/predict"]


def test_a_recording_uploaded_through_the_api_comes_back_classified(client, tmp_path):
    signal, peaks = synthetic_ecg(fs=250)
    csv = tmp_path / "strip.csv"
    csv.write_text("\n".join(f"{v:.5f}" for v in signal))
    summary, strip, _, table, downloads, *_ = client.predict([handle_file(str(csv))], 250, None, True,
                                                             api_name="/analyze_record")
    assert f"{len(peaks)} beats" in summary
    assert f"in its context ({context.reads(context.shipped_params(inference.WEIGHTS_DIR))})" in summary
    assert len(table["data"]) == len(peaks)
    assert sorted(p.rsplit(".", 1)[-1] for p in downloads) == ["cnn", "csv"]
    with pytest.raises(Exception, match="is not a number"):
        bad = tmp_path / "bad.csv"
        bad.write_text("x\n1\n2\nnope\n")
        client.predict([handle_file(str(bad))], 360, None, True, api_name="/analyze_record")


def test_a_fresh_start_with_no_data_folder_offers_the_shipped_examples(tmp_path):
    """A newcomer or a Space has no MIT-BIH copy: the examples must be there all the same, with no error text."""
    with running_app({"MITDB_DIR": str(tmp_path), "ECG_DATA_DIR": str(tmp_path)}) as url:
        page = Client(url, verbose=False)
        _, label, _ = page.predict(text_of(synthetic_beat()), api_name="/predict")
        assert len(label["confidences"]) == 5
        config = str(page.config)
    shipped, _ = examples.load_examples()
    assert all(e.title in config for e in shipped)
    assert "No examples" not in config and "Error" not in config and str(tmp_path) not in config


def test_the_floor_app_answers_predict_with_what_the_app_answers(client):
    """bench.py times the app against floor_app.py: the comparison holds only if both send the same kinds of
    outputs and a plot of the same size."""
    def plot_size(plot):
        return Image.open(io.BytesIO(base64.b64decode(plot["plot"].split(",", 1)[1]))).size

    app_outputs = client.predict(text_of(synthetic_beat()), api_name="/predict")
    with running_app(module="measure.floor_app") as url:
        floor_outputs = Client(url, verbose=False).predict(text_of(synthetic_beat()), api_name="/predict")
    assert [type(o) for o in floor_outputs] == [type(o) for o in app_outputs]
    assert len(floor_outputs[1]["confidences"]) == len(app_outputs[1]["confidences"]) == 5
    assert plot_size(floor_outputs[2]) == plot_size(app_outputs[2])
