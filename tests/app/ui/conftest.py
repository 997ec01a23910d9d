"""Fixtures of the UI tests: short answers, the page images drawn, and for the browser tests the
Streamlit server on a free port, a Chromium page on it and documents stored before it starts."""

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

import app.service as app_service
from app.service import Scholar
from app.settings import Settings
from tests.app.ui.browser import (
    CHROMIUM_FLAGS,
    CHROMIUM_VARIABLE,
    START_TIMEOUT_S,
    chromium_executable,
    free_port,
)
from tests.app.ui.stored import (
    APP,
    CITED_QUESTION,
    TWO_QUOTES_QUESTION,
    store_answer_citing_one_page_twice,
    store_cited_markdown,
)
from tests.conftest import TOPIC_PAGES, PdfMaker


@pytest.fixture(autouse=True)
def short_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLAR_MAX_NEW_TOKENS", "48")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """(page, quote) of every page image the service draws, from here on."""
    calls: list[tuple[int, str]] = []
    draw = app_service.render_page
    monkeypatch.setattr(
        app_service,
        "render_page",
        lambda path, page, quote, **options: (
            calls.append((page, quote)) or draw(path, page, quote, **options)
        ),
    )
    return calls


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


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's executable; the test skips, saying why, where there is none."""
    with sync_playwright() as playwright:
        executable = chromium_executable(playwright)
    if executable is None:
        pytest.skip(
            f"no Chromium: none on PATH, no {CHROMIUM_VARIABLE} and no Playwright download "
            "(`make test` installs one)"
        )
    return executable


@pytest.fixture
def page(chromium: str, server: str) -> Iterator[Page]:
    """The app in the browser (`chromium` comes first: no server starts where there is none)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server)
        page.get_by_role("radiogroup").wait_for(timeout=START_TIMEOUT_S * 1000)
        yield page
        browser.close()


@pytest.fixture
def topics(scholar: Scholar, make_pdf: PdfMaker) -> int:
    """topics.pdf in the default collection, ingested before the server starts (a test names
    this fixture before `page`); its document id."""
    outcome = next(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    assert outcome.document_id is not None
    return outcome.document_id


@pytest.fixture
def cited_markdown(scholar: Scholar, tmp_path: Path) -> str:
    """lighthouse.md and a stored answer citing it, made before the server starts (a test
    names this fixture before `page`); the question asked."""
    store_cited_markdown(scholar, tmp_path)
    return CITED_QUESTION


@pytest.fixture
def cited_page(scholar: Scholar, make_pdf: PdfMaker) -> str:
    """topics.pdf and a stored answer citing its page 1, made before the server starts (a test
    names this fixture before `page`); the question asked."""
    store_answer_citing_one_page_twice(scholar, make_pdf)
    return TWO_QUOTES_QUESTION
