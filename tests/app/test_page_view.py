"""PDF pages rendered with the quoted passage highlighted where it really is on the page."""

from pathlib import Path

import numpy as np
import pytest

from app.page_view import PageViewError, render_page
from tests.conftest import PAPERS, TOPIC_PAGES, PdfMaker, require_shared


def highlighted_rows(image) -> np.ndarray:
    """Row indices of pixels tinted by the translucent yellow highlight over white paper."""
    pixels = np.asarray(image).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    tinted = (red > 235) & (green > 220) & (blue > 120) & (blue < 200)
    return np.nonzero(tinted)[0]


def test_the_quote_is_highlighted_on_its_page(make_pdf: PdfMaker) -> None:
    pdf = make_pdf("topics.pdf", TOPIC_PAGES)
    quote = "Volcanologists watch for earthquakes, ground swelling and sulfur dioxide emissions"

    shown = render_page(pdf, 2, quote)

    assert (shown.page, shown.pages, shown.highlighted) == (2, 4, True)
    rows = highlighted_rows(shown.image)
    assert rows.size > 500
    # The third paragraph of the page sits below the first two: around a fifth of the way down.
    height = shown.image.size[1]
    assert 0.08 * height < rows.min() < rows.max() < 0.35 * height


def test_a_quote_from_another_page_is_not_highlighted(make_pdf: PdfMaker) -> None:
    pdf = make_pdf("topics.pdf", TOPIC_PAGES)

    shown = render_page(pdf, 1, "Volcanologists watch for earthquakes, ground swelling")

    assert not shown.highlighted
    assert highlighted_rows(shown.image).size == 0


def test_cleaned_quotes_match_ligatures_and_hyphenation_in_a_real_paper() -> None:
    paper = require_shared(PAPERS / "s2orc_2020.acl-main.447.pdf")
    # The page prints "insufﬁcient meta-" / "data": a ligature and a line-end hyphen.
    quote = "Filter paper clusters with insufficient metadata or content, and"

    shown = render_page(paper, 3, quote)

    assert shown.highlighted
    assert highlighted_rows(shown.image).size > 500


@pytest.mark.parametrize("page", [0, 5])
def test_pages_outside_the_document_are_refused(make_pdf: PdfMaker, page: int) -> None:
    pdf = make_pdf("topics.pdf", TOPIC_PAGES)
    with pytest.raises(PageViewError, match="outside 1-4"):
        render_page(pdf, page, "anything")


def test_a_file_that_is_not_a_pdf_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.pdf"
    text.write_text("just some notes")
    with pytest.raises(PageViewError, match=r"notes\.pdf cannot be opened as a PDF"):
        render_page(text, 1, "notes")
