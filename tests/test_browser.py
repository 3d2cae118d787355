"""A real browser: Playwright drives headless Chromium through the page as a user would."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from conftest import ROOT

from databases import mitbih
from ecg import examples
from ecg.synthetic import synthetic_beat, synthetic_ecg
from measure.local_server import running_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def url():
    env = {"MITDB_DIR": str(mitbih.default_data_dir())} if mitbih.has_data() else {}
    with running_app(env) as address:
        yield address


def paste_and_enter(page, text):
    box = page.locator("#beat-input textarea")
    box.fill(text)
    box.press("Enter")


@pytest.mark.parametrize("width, height, name", [(1366, 768, "desktop"), (390, 844, "phone")])
def test_paste_a_beat_press_enter_and_see_class_and_plot(browser, url, width, height, name):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.get_by_text("Research and teaching tool, not a medical device").wait_for()
    paste_and_enter(page, ", ".join(f"{v:.4f}" for v in synthetic_beat()))
    page.locator("#verdict .verdict-class").wait_for(timeout=30_000)
    assert "confidence" in page.locator("#verdict").inner_text()
    page.locator("#beat-plot img").wait_for(timeout=30_000)
    assert page.locator("#probabilities").inner_text().count("%") >= 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"app-{name}.png"), full_page=True)
    page.close()


def test_a_bad_value_shows_its_message_and_the_page_still_works(browser, url):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url)
    values = [f"{v:.4f}" for v in synthetic_beat()]
    values[41] = "12a"
    paste_and_enter(page, ", ".join(values))
    page.get_by_text("Value 42 is '12a', which is not a number").first.wait_for(timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-error.png"))
    values[41] = "0.1"
    paste_and_enter(page, ", ".join(values))
    page.locator("#verdict .verdict-class").wait_for(timeout=30_000)
    page.close()


def test_an_example_from_a_ds2_patient_shows_its_reference_label(browser, url):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(url)
    page.locator("#examples input").click()
    shipped_v = next(e for e in examples.load_examples()[0] if e.label == "V")
    page.get_by_role("option", name=shipped_v.title).click()
    page.locator("#verdict .verdict-reference").wait_for(timeout=30_000)
    assert "Reference annotation (MIT-BIH): V" in page.locator("#verdict").inner_text()
    page.get_by_role("button", name="Clear").click()
    page.locator("#verdict .verdict-empty").wait_for(timeout=10_000)
    assert page.locator("#beat-input textarea").input_value() == ""
    assert not [m for m in console if m.startswith("error") or "Too many arguments" in m], console
    page.close()


def record_tab_with(browser, url, files: list[Path]):
    """A new desktop page on the record tab, with these files chosen for upload."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.get_by_role("tab", name="Whole recording").click()
    page.locator("#record-files input[type=file]").set_input_files([str(f) for f in files])
    return page


def test_a_recording_uploaded_in_the_record_tab_is_summarised_and_drawn(browser, url, tmp_path):
    signal, peaks = synthetic_ecg(seconds=40)
    csv = tmp_path / "strip.csv"
    csv.write_text("mV\n" + "\n".join(f"{v:.5f}" for v in signal))
    page = record_tab_with(browser, url, [csv])
    page.get_by_role("button", name="Analyze recording").click()
    page.get_by_text(f"{len(peaks)} beats in 0.7 min").wait_for(timeout=60_000)
    page.locator("#record-strip img").wait_for(timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-record.png"), full_page=True)
    page.close()


def test_a_24_hour_two_lead_record_of_about_95_mb_uploads_shows_progress_and_is_analysed(browser, url, tmp_path):
    half_hour, peaks = synthetic_ecg(seconds=1800, seed=3)
    day = np.tile(half_hour, 48)
    wfdb.wrsamp("day", fs=360, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=np.column_stack([day, day / 2]),
                fmt=["212", "212"], write_dir=str(tmp_path))
    assert (tmp_path / "day.dat").stat().st_size > 90_000_000
    page = record_tab_with(browser, url, [tmp_path / "day.hea", tmp_path / "day.dat"])
    page.locator("#record-files").get_by_text("day.dat").wait_for(timeout=120_000)
    page.get_by_role("button", name="Analyze recording").click()
    page.locator("#record-summary .progress-level").first.wait_for(timeout=60_000)
    summary = page.get_by_text("beats in 1440.0 min")
    summary.wait_for(timeout=400_000)
    beats = int(re.match(r"(\d+) beats", summary.inner_text()).group(1))
    assert abs(beats - 48 * len(peaks)) <= 48
    page.close()


@pytest.mark.skipif(not mitbih.has_data(), reason="MIT-BIH data not found; record 114 needs a local copy")
def test_a_record_whose_mlii_is_not_its_first_lead_is_read_on_mlii_when_no_lead_is_chosen(browser, url):
    """MIT-BIH 114 stores V5 first and MLII second: left on automatic, the page must analyse MLII."""
    folder = mitbih.default_data_dir()
    page = record_tab_with(browser, url, [folder / f"114.{ext}" for ext in ("hea", "dat", "atr")])
    page.locator("#record-files").get_by_text("114.hea").wait_for(timeout=120_000)
    page.locator("#record-channel input").click()
    page.get_by_role("option", name="1: MLII").wait_for(timeout=30_000)  # the picker lists the record's own leads
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Analyze recording").click()
    summary = page.locator("#record-summary .verdict-meta").first
    summary.wait_for(timeout=120_000)
    assert "lead MLII" in summary.inner_text()
    page.close()


PHONE = {"width": 390, "height": 844}


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_on_a_phone_no_state_of_the_page_scrolls_sideways(browser, url, tmp_path):
    """390 px wide: the answer, a refusal with a long unbroken value and a recording's results all fit."""
    page = browser.new_page(viewport=PHONE)
    page.goto(url)
    page.get_by_text("Research and teaching tool, not a medical device").wait_for()
    assert scroll_width(page) <= PHONE["width"], "the empty page"
    paste_and_enter(page, ", ".join(f"{v:.4f}" for v in synthetic_beat()))
    page.locator("#beat-plot img").wait_for(timeout=30_000)
    assert scroll_width(page) <= PHONE["width"], "a beat's answer"
    paste_and_enter(page, "1, 2, " + "x" * 300)
    page.get_by_text("is not a number").first.wait_for(timeout=30_000)
    assert scroll_width(page) <= PHONE["width"], "a refusal quoting a long value"
    signal, _ = synthetic_ecg(seconds=40)
    csv = tmp_path / "strip.csv"
    csv.write_text("mV\n" + "\n".join(f"{v:.5f}" for v in signal))
    page.get_by_role("tab", name="Whole recording").click()
    page.locator("#record-files input[type=file]").set_input_files([str(csv)])
    page.get_by_role("button", name="Analyze recording").click()
    page.locator("#record-strip img").wait_for(timeout=60_000)
    page.locator("#record-table").wait_for()
    assert scroll_width(page) <= PHONE["width"], "a recording's results"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-phone-record.png"), full_page=True)
    page.close()
