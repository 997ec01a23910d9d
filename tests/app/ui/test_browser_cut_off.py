"""Work cut off in the browser by a reload or a click: an upload, a batch of uploads, a question
and a summary, each reported by the next run with nothing half-stored."""

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from app.service import Scholar
from app.settings import Settings
from app.ui.chat import WRITING_NOTE
from tests.app.ui.browser import (
    ANSWER_TIMEOUT_MS,
    SUMMARY_TIMEOUT_MS,
    reload,
    stored_summaries,
    wait_until,
)
from tests.conftest import TRICKY, require_shared


def test_an_upload_cut_off_by_a_reload_is_reported_and_nothing_is_stored(
    page: Page, settings: Settings
) -> None:
    long_pdf = require_shared(TRICKY / "DA-619p.pdf")
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    page.locator("input[type=file]").set_input_files(str(long_pdf))
    expect(page.get_by_text(re.compile(r"\d+ of 619 pages read"))).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(r"[?&]uploading=DA-619p\.pdf"))

    reload(page)

    expect(page.get_by_text("DA-619p.pdf was not added: its upload was cut off")).to_be_visible()
    expect(page).not_to_have_url(re.compile("uploading="))
    scholar = Scholar(settings)
    wait_until(lambda: not scholar.documents("default"), 60_000)  # the cut-off run rolled back
    scholar.store.dispose()


def test_a_question_cut_off_by_a_click_is_reported(topics: int, page: Page) -> None:
    question = "What does the enzyme RuBisCO fix?"
    box = page.get_by_placeholder("Ask about your documents")
    box.fill(question)
    box.press("Enter")
    expect(page.get_by_text(WRITING_NOTE)).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

    page.get_by_role("radiogroup").get_by_text("Documents").click()

    warning = page.get_by_test_id("stAlert").filter(has_text=f"Your question “{question}”")
    expect(warning).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(warning).to_contain_text("was not answered")
    expect(page).not_to_have_url(re.compile("asking="))


def test_a_batch_cut_off_by_a_click_names_every_file_not_added(page: Page, tmp_path: Path) -> None:
    long_pdf = require_shared(TRICKY / "DA-619p.pdf")
    first, later = tmp_path / "first.md", tmp_path / "later.md"
    first.write_text("Glaciers carve valleys as they move downhill under their own weight.")
    later.write_text("Dunes migrate downwind as sand grains hop over their crests.")
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    page.locator("input[type=file]").set_input_files([str(first), str(long_pdf), str(later)])
    expect(page.get_by_text(re.compile(r"\d+ of 619 pages read"))).to_be_visible(timeout=60_000)

    page.get_by_role("radiogroup").get_by_text("Chat").click()

    warning = page.get_by_test_id("stAlert").filter(has_text="DA-619p.pdf was not added")
    expect(warning).to_be_visible(timeout=60_000)
    expect(warning).to_contain_text("Not started either: later.md. Add them again.")
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    expect(page.get_by_text("first.md: ingested, 1 page, 1 passage.")).to_be_visible()
    expect(page.get_by_text("Ingesting")).to_have_count(0)  # the files are not taken again


def test_a_summary_cut_off_by_a_click_is_reported(
    topics: int, page: Page, scholar: Scholar
) -> None:
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    page.get_by_role("button", name="Summarize", exact=True).click()
    expect(page.get_by_text("Summarizing")).to_be_visible(timeout=SUMMARY_TIMEOUT_MS)

    page.get_by_role("radiogroup").get_by_text("Chat").click()

    warning = page.get_by_test_id("stAlert").filter(has_text="The summary of topics.pdf")
    expect(warning).to_be_visible(timeout=SUMMARY_TIMEOUT_MS)
    expect(warning).to_contain_text("was not made")
    expect(page).not_to_have_url(re.compile("summarizing="))
    assert stored_summaries(scholar, topics) == 0
