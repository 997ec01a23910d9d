"""The app in a real browser: the Streamlit server started on a free localhost port, headless
Chromium driven by Playwright through upload, ingestion, a question, its citations and
the cited page; and documents with script and image payloads that must stay inert. Then the
fixes of the browser review: the collection and conversation kept across a reload, summaries
made by one click (and again by the next), blank questions ignored, no generation timings for
an answer that was not generated, the PDF password cleared after its upload, commands in
failure messages shown as code, unsupported files in a batch, a Markdown source's text with the
quote highlighted, and a cited page that fits a phone's width. Work cut off by a reload or a
click is in test_browser_cut_off.py."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfWriter

from app.service import Scholar
from app.ui.chat import BLANK_QUESTION_HINT
from app.ui.documents import PASSWORD_TAKEN
from rag.conversations import add_turn, start_conversation
from tests.app.ui.browser import (
    ANSWER_TIMEOUT_MS,
    SCREENSHOTS,
    SUMMARY_TIMEOUT_MS,
    ask,
    pick_collection,
    reload,
    stored_summaries,
    turn_on,
    wait_until,
)
from tests.app.ui.stored import (
    HOSTILE,
    LAMP,
)
from tests.conftest import PAPERS, TOPIC_PAGES, PdfMaker, require_shared


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
    expect(page.get_by_text("lighthouse.html: ingested, 1 page, 1 passage.")).to_be_visible()
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


INVENTED = "which makes it the fastest enzyme known."


def test_a_reload_keeps_the_collection_and_the_conversation(
    topics: int, page: Page, scholar: Scholar
) -> None:
    scholar.collection_id("Second", create=True)  # sorts before "default"
    question = "What does the enzyme RuBisCO fix?"
    with scholar.store.session(write=True) as session:
        conversation = start_conversation(session, scholar.collection_id("default"), question)
        details = {
            "answer": f"RuBisCO fixes carbon dioxide from the air [1], {INVENTED}",
            "found": True,
            "citations": [],
            "evidence": [],
            "unsupported_sentences": [INVENTED],
            "retrieved": [],
            "timings": {"retrieve_ms": 12.0, "ttft_ms": 900.0, "tokens_per_s": 20.0},
            "conversation_id": conversation,
            "quoted": False,
        }
        add_turn(session, conversation, question, str(details["answer"]), details)
    reload(page)
    picker = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Collection")
    expect(picker).to_have_value("default")  # nothing chosen yet: the default collection

    pick_collection(page, "Second")
    reload(page)
    expect(picker).to_have_value("Second")

    pick_collection(page, "default")
    page.get_by_test_id("stSidebar").get_by_role("button", name=question).click()
    expect(page).to_have_url(re.compile(rf"[?&]conversation={conversation}\b"))
    expect(page.get_by_test_id("stChatMessage").first).to_contain_text(question)
    reload(page)

    expect(picker).to_have_value("default")
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2)
    expect(messages.first).to_contain_text(question)
    expect(messages.nth(1)).to_contain_text("RuBisCO fixes carbon dioxide from the air")
    invented = messages.nth(1).locator(".stMarkdownColoredBackground")  # inside the sentence
    expect(invented).to_have_text(INVENTED)
    assert invented.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    expect(messages.nth(1).get_by_text("unsupported", exact=True)).to_be_visible()


def test_one_click_summarizes_a_cited_page_opens_and_the_next_click_summarizes_again(
    topics: int, page: Page, scholar: Scholar
) -> None:
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    page.get_by_role("button", name="Summarize", exact=True).click()

    expect(page.get_by_text("TL;DR")).to_be_visible(timeout=SUMMARY_TIMEOUT_MS)
    expect(page.get_by_text("Export summary")).to_be_visible()  # the run has drawn it all
    expect(page.get_by_role("radiogroup").get_by_role("radio", name="Summaries")).to_be_checked()
    assert stored_summaries(scholar, topics) == 1
    page.get_by_role("combobox", name="Open a cited page").click()
    page.get_by_role("option").first.click()
    image = page.get_by_test_id("stMain").get_by_role("img")
    expect(image).to_be_visible(timeout=60_000)
    assert image.bounding_box()["height"] > 400
    expect(page.get_by_text(re.compile(r"^Page \d of 4"))).to_be_visible()
    page.get_by_role("button", name="Summarize again").click()

    wait_until(lambda: stored_summaries(scholar, topics) == 2, SUMMARY_TIMEOUT_MS)
    expect(page.get_by_text("Export summary")).to_be_visible(timeout=SUMMARY_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Summarize again")).to_be_visible()


def test_a_blank_question_is_ignored(topics: int, page: Page) -> None:
    box = page.get_by_placeholder("Ask about your documents")
    box.fill("   ")
    box.press("Enter")

    expect(page.get_by_text(BLANK_QUESTION_HINT)).to_be_visible()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)
    expect(page.get_by_text("the question is empty")).to_have_count(0)


def test_an_answer_that_was_not_found_shows_no_generation_timings(topics: int, page: Page) -> None:
    ask(page, "What is the best recipe for chocolate chip cookies?")

    answer = page.get_by_test_id("stChatMessage").nth(1)
    expect(answer).to_contain_text("I could not find an answer")
    expect(answer.get_by_text(re.compile(r"^retrieval \d+ ms$"))).to_be_visible()
    expect(answer.get_by_text("first word after")).to_have_count(0)
    expect(answer.get_by_text("tokens/s")).to_have_count(0)


def test_the_pdf_password_is_cleared_after_its_upload(
    page: Page, make_pdf: PdfMaker, tmp_path: Path
) -> None:
    locked = tmp_path / "locked.pdf"
    writer = PdfWriter(clone_from=make_pdf("topics.pdf", TOPIC_PAGES))
    writer.encrypt("lamp-oil-42")
    writer.write(locked)
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    password = page.get_by_label("PDF password", exact=True)
    password.fill("lamp-oil-42")
    password.press("Enter")  # Streamlit takes a text field's value on Enter
    expect(page.get_by_text(PASSWORD_TAKEN)).to_be_visible()  # the run with it is done

    page.locator("input[type=file]").set_input_files(str(locked))

    # While the run ends the message can be on the page twice, the old copy fading: the first.
    expect(page.get_by_text("locked.pdf: ingested, 4 pages").first).to_be_visible(
        timeout=ANSWER_TIMEOUT_MS
    )
    # The field is drawn anew, empty; the old one stays on the page, faded, until the run ends.
    expect(page.get_by_text(PASSWORD_TAKEN)).to_have_count(0, timeout=60_000)
    expect(page.get_by_label("PDF password", exact=True)).to_have_count(1, timeout=60_000)
    expect(page.get_by_label("PDF password", exact=True)).to_have_value("")


@pytest.fixture
def ocr_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app started after this has OCR off (SCHOLAR_OCR=off)."""
    monkeypatch.setenv("SCHOLAR_OCR", "off")


def test_commands_in_failure_messages_show_as_code(
    ocr_off: None, page: Page, make_pdf: PdfMaker, tmp_path: Path
) -> None:
    # With OCR off, a page with no text fails with a command to run; a file name with backticks.
    scan = make_pdf("scan `1`.pdf", [[]])
    page.get_by_role("radiogroup").get_by_text("Documents").click()

    page.locator("input[type=file]").set_input_files(str(scan))

    failure = page.get_by_test_id("stAlert").filter(has_text="scan `1`.pdf: failed.")
    expect(failure).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(failure.locator("code")).to_have_text(["ocrmypdf in.pdf out.pdf"])
    expect(failure).to_contain_text("(for example ocrmypdf in.pdf out.pdf)")
    listed = page.get_by_test_id("stCaptionContainer").filter(has_text="scan `1`.pdf · failed:")
    expect(listed.locator("code")).to_have_text(["ocrmypdf in.pdf out.pdf"])


def test_unsupported_files_in_a_batch_each_get_a_failure_and_the_rest_is_ingested(
    page: Page, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("Glaciers carve valleys as they move downhill under their own weight.")
    report = tmp_path / "report.docx"
    report.write_bytes(b"PK\x03\x04 a Word document, zipped")
    table = tmp_path / "table.csv"
    table.write_text("glacier,length_km\nAletsch,23\n")
    page.get_by_role("radiogroup").get_by_text("Documents").click()
    expect(page.get_by_text("Supported: .htm, .html")).to_be_visible()

    page.locator("input[type=file]").set_input_files([str(report), str(notes), str(table)])

    expect(page.get_by_text("notes.md: ingested, 1 page, 1 passage.")).to_be_visible(
        timeout=ANSWER_TIMEOUT_MS
    )
    for name in ("report.docx", "table.csv"):
        failure = page.get_by_test_id("stAlert").filter(has_text=f"{name}: failed.")
        expect(failure).to_have_count(1)
        extension = name.rsplit(".", 1)[1]
        expect(failure).to_contain_text(
            f"unsupported type: '.{extension}' files are not supported; use one of .htm, .html"
        )


def test_a_cited_markdown_source_shows_its_text_with_the_quote_highlighted(
    cited_markdown: str, page: Page
) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name=cited_markdown).click()
    answer = page.get_by_test_id("stChatMessage").nth(1)
    source = answer.get_by_test_id("stExpander").first
    source.locator("summary").click()
    expect(source.get_by_text("Show page")).to_have_count(0)

    turn_on(source.get_by_role("switch"), source.get_by_text("Show the text"))

    expect(source.get_by_text("The text of the file")).to_be_visible(timeout=60_000)
    highlight = source.locator("span", has_text=LAMP).last
    expect(highlight).to_have_text(LAMP)
    assert highlight.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    expect(source.get_by_text("<script>window.pwned = 1</script>", exact=False)).to_be_visible()
    expect(source.get_by_text(":orange-background")).to_have_count(0)
    expect(source.get_by_text("Download lighthouse.md")).to_be_visible()


def test_a_cited_page_fits_a_narrow_window(cited_page: str, page: Page) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name=cited_page).click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)
    width = 420  # a phone: the sidebar folds away
    page.set_viewport_size({"width": width, "height": 860})
    source = page.get_by_test_id("stChatMessage").nth(1).get_by_test_id("stExpander").first

    source.locator("summary").click()
    turn_on(source.get_by_role("switch"), source.get_by_text("Show page"))

    image = source.get_by_role("img")
    expect(image).to_be_visible(timeout=60_000)
    box = image.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert box["width"] > width / 2
