"""Driving the app in Chromium: which browser, its settings, timeouts and the steps that tests
share."""

import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, Playwright, expect
from sqlalchemy import func, select

from app.service import Scholar
from rag.store import StoredSummary

# The browser that scripts/test_env.sh found or installed (`make test` sets it).
CHROMIUM_VARIABLE = "SCHOLAR_TEST_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

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

SUMMARY_TIMEOUT_MS = 600_000  # loads the default model, then reads the document in parts

SCREENSHOTS = "SCHOLAR_SCREENSHOTS"  # where the screenshots go (the README's come from here)


def chromium_executable(playwright: Playwright) -> str | None:
    """The Chromium to launch: SCHOLAR_TEST_CHROMIUM, else one on PATH, else Playwright's own
    download if it is there; None when there is none."""
    found = os.environ.get(CHROMIUM_VARIABLE) or next(
        filter(None, map(shutil.which, CHROMIUM_NAMES)), None
    )
    if found is None and Path(playwright.chromium.executable_path).is_file():
        found = playwright.chromium.executable_path
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def reload(page: Page) -> None:
    page.reload()
    page.get_by_role("radiogroup").wait_for(timeout=START_TIMEOUT_S * 1000)


def pick_collection(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("combobox", name="Collection").click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"[?&]collection={re.escape(name)}\b"))


def stored_summaries(scholar: Scholar, document_id: int) -> int:
    with scholar.store.session() as session:
        return session.scalar(select(func.count()).where(StoredSummary.document_id == document_id))


def wait_until(condition: Callable[[], bool], timeout_ms: int) -> None:
    """Poll `condition` (a check outside the page, such as the store) until it holds."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(1)
