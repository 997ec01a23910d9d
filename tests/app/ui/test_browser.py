"""The app in a real browser: the Streamlit server started on a free localhost port, headless
Debian Chromium driven by Playwright through upload, ingestion, a question, its citations and
the cited page; and documents with script and image payloads that must stay inert."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from app.settings import Settings
from tests.app.ui.test_app import APP, HOSTILE
from tests.conftest import PAPERS, require_shared

CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright's own browser download fails here
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 60
ANSWER_TIMEOUT_MS = 300_000  # the first question loads the default model
SCREENSHOTS = "SCHOLAR_SCREENSHOTS"  # where the screenshots go (the README's come from here)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port)],
        cwd=APP.parent,
        env={**os.environ, "SCHOLAR_MAX_NEW_TOKENS": "64"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "streamlit.log").read_text()) from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def page(server: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server)
        page.get_by_role("radiogroup").wait_for(timeout=START_TIMEOUT_S * 1000)
        yield page
        browser.close()


def test_upload_ask_cite_and_open_the_page(page: Page, server: str, tmp_path: Path) -> None:
    paper = require_shared(PAPERS / "s2orc_2020.acl-main.447.pdf")
    hostile = tmp_path / "lighthouse.html"
    hostile.write_text(f"<html><body><p>{HOSTILE}</p></body></html>")
    hostile_md = tmp_path / "lighthouse-notes.md"
    hostile_md.write_text(HOSTILE.replace("Zanzibar", "Pemba"))
    shots = Path(os.environ.get(SCREENSHOTS) or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []  # requests to anywhere but the app itself
    page.on(
        "request",
        lambda request: None if request.url.startswith(server) else outside.append(request.url),
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    shots_taken = 0

    def shoot(name: str, part: Locator | None = None) -> None:
        """A screenshot of the window, or of one part of the page scrolled into view."""
        nonlocal shots_taken
        if part is None:
            page.screenshot(path=str(shots / name))
        else:
            part.scroll_into_view_if_needed()
            part.screenshot(path=str(shots / name))
        shots_taken += 1

    expect(page.get_by_text("Start here.")).to_be_visible()
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    page.locator("input[type=file]").set_input_files([str(paper), str(hostile), str(hostile_md)])
    expect(page.get_by_text("s2orc_2020.acl-main.447.pdf: ingested, 15 pages")).to_be_visible(
        timeout=ANSWER_TIMEOUT_MS
    )
    expect(page.get_by_text("lighthouse.html: ingested")).to_be_visible()
    expect(page.get_by_text("S2ORC: The Semantic Scholar Open Research Corpus")).to_be_visible()
    shoot("documents.png")

    page.get_by_role("radiogroup").get_by_text("Chat").click()
    ask(page, "How many papers does the S2ORC corpus contain?")
    answer = page.get_by_test_id("stChatMessage").nth(1)
    expect(answer.get_by_text("Sources", exact=True)).to_be_visible()
    source = answer.get_by_test_id("stExpander").first
    expect(source).to_contain_text("S2ORC: The Semantic Scholar Open Research Corpus · p.")
    shoot("answer.png", answer)

    source.locator("summary").click()
    turn_on(source.get_by_role("switch"), source.get_by_text("Show page"))
    image = source.get_by_role("img")
    expect(image).to_be_visible(timeout=60_000)
    assert image.bounding_box()["height"] > 400
    shoot("page.png", image)
    with page.expect_download() as download:
        source.get_by_text("Download s2orc_2020.acl-main.447.pdf").click()
    assert download.value.suggested_filename == paper.name
    assert Path(download.value.path()).read_bytes() == paper.read_bytes()

    ask(page, "What oil does the Zanzibar lighthouse lamp burn?")
    expect(page.get_by_text("<script>window.pwned = 1</script>").first).to_be_visible()
    shoot("hostile.png", page.get_by_test_id("stChatMessage").nth(3))
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[src*='127.0.0.1:9'], img[onerror]").count() == 0
    assert not page.evaluate(
        "Array.from(document.scripts).some(script => script.textContent.includes('pwned'))"
    )
    assert dialogs == []
    assert outside == [], outside
    assert shots_taken == 4


def turn_on(switch: Locator, label: Locator, attempts: int = 3) -> None:
    """Click a toggle's label until it is on: a click that lands while the app is still
    finishing a run can be dropped by Streamlit."""
    for _ in range(attempts):
        label.click()
        try:
            expect(switch).to_be_checked(timeout=10_000)
            return
        except AssertionError:
            continue
    expect(switch).to_be_checked()


def ask(page: Page, question: str) -> None:
    exports_before = page.get_by_text("Export answer").count()
    box = page.get_by_placeholder("Ask about your documents")
    box.fill(question)
    box.press("Enter")
    expect(page.get_by_text("Export answer")).to_have_count(
        exports_before + 1, timeout=ANSWER_TIMEOUT_MS
    )
