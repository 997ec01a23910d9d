"""A question about a scanned PDF: the answer cites its page, and the page view highlights the
quote on the page image from the OCR words' boxes."""

import dataclasses

from app.service import Scholar
from app.settings import Settings
from ingest.ocr import OcrChoice
from tests.app.test_page_view import highlighted_rows
from tests.conftest import TRICKY, require_shared


def test_an_answer_about_a_scan_cites_its_page_with_the_quote_highlighted(
    settings: Settings,
) -> None:
    scholar = Scholar(dataclasses.replace(settings, max_new_tokens=32))
    try:
        [outcome] = scholar.ingest([require_shared(TRICKY / "loremipsum-flat.pdf")])
        assert outcome.label == "ingested (OCR, 1 page)"
        answer = scholar.ask("What does the text say about Pellentesque in gravida ante?").result()
        cited = [*answer.citations, *answer.evidence]
        assert cited and {(c.filename, c.page) for c in cited} == {("loremipsum-flat.pdf", 1)}
        for citation in cited:
            shown = scholar.page_image(outcome.document_id, citation.page, citation.quote)
            assert shown.highlighted, citation.quote
            rows = highlighted_rows(shown.image)
            # A sentence or two of the page's body: tinted rows, well inside the page.
            assert rows.size > 200
            assert 0.05 * shown.image.size[1] < rows.min() < rows.max() < 0.9 * shown.image.size[1]
    finally:
        scholar.store.dispose()


def test_with_ocr_off_the_scan_is_shown_without_a_highlight(settings: Settings) -> None:
    scholar = Scholar(settings)
    try:
        [outcome] = scholar.ingest([require_shared(TRICKY / "loremipsum-flat.pdf")])
        off = Scholar(dataclasses.replace(settings, ocr=OcrChoice.OFF))
        quote = "Pellentesque in gravida ante"
        shown = off.page_image(outcome.document_id, 1, quote)
        assert not shown.highlighted
        off.store.dispose()
        assert scholar.page_image(outcome.document_id, 1, quote).highlighted
    finally:
        scholar.store.dispose()
