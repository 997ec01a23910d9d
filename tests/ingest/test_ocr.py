"""OCR of scanned pages on the shared tricky PDFs and on image-only PDFs made here: text with its
page, the file's caps, and a clear failure where the images hold no text."""

import io

import pypdfium2 as pdfium
import pytest
from PIL import Image

from ingest.ocr import (
    OcrChoice,
    OcrConfig,
    RapidOcrEngine,
    needs_ocr,
    page_image,
)
from ingest.readers import FailureReason, IngestError, ParsedDocument, read_document
from tests.conftest import TRICKY, require_shared

OCR_ON = OcrConfig()


def read(data: bytes, config: OcrConfig = OCR_ON) -> ParsedDocument:
    return read_document(data, ".pdf", ocr=config)


def failure(data: bytes, config: OcrConfig = OCR_ON) -> IngestError:
    with pytest.raises(IngestError) as caught:
        read(data, config)
    return caught.value


def image_pdf(pages: list[Image.Image]) -> bytes:
    """A PDF of nothing but the images given, one a page: a scan."""
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    return out.getvalue()


def lorem_scan() -> Image.Image:
    """The page of loremipsum-flat.pdf as an image, to make scans of several pages."""
    document = pdfium.PdfDocument(require_shared(TRICKY / "loremipsum-flat.pdf"))
    try:
        return page_image(document[0]).convert("L")
    finally:
        document.close()


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        ("", True),
        ("  12 \n", True),
        ("The quick brown fox jumps over the lazy dog near the river bank.", False),
        ("\ufffd\ufffe\ufffd \ufffd\ufffd \ue000\ue001\ue002 " * 10, True),  # unmapped glyphs
        ("#$%& *()! @@## $$%% ^^&& ~~~~ 1a " * 5, True),  # symbols for letters
        ("这是一个用中文写成的页面它的文字层完全可以使用", False),  # no spaces, still words
    ],
)
def test_a_page_needs_ocr_without_a_usable_text_layer(text: str, needed: bool) -> None:
    assert needs_ocr(text) is needed


@pytest.mark.parametrize(
    ("name", "page", "words"),
    [
        ("loremipsum-flat.pdf", 1, "Lorem ipsum dolor sit amet, consectetur adipiscing elit"),
        ("encrypted_doc_no_id.pdf", 2, "Date of publication of the international search report"),
    ],
)
def test_scanned_pages_are_read_with_their_page_numbers(name: str, page: int, words: str) -> None:
    parsed = read(require_shared(TRICKY / name).read_bytes())
    assert parsed.ocr is not None and parsed.ocr.read == (page,)
    assert words in " ".join(parsed.pages[page - 1].split())
    others = [text for number, text in enumerate(parsed.pages, start=1) if number != page]
    assert not "".join(others).strip()  # the blank pages of the patent stay blank


def test_a_scan_whose_image_holds_no_text_fails_with_its_reason() -> None:
    # A 16-pixel smiley, fax-compressed.
    error = failure(require_shared(TRICKY / "imagemagick-CCITTFaxDecode.pdf").read_bytes())
    assert error.reason == FailureReason.NO_TEXT
    assert "OCR" in str(error) and "found no text on the 1 page it read" in str(error)


def test_a_blank_scan_fails_too() -> None:
    error = failure(image_pdf([Image.new("L", (1700, 2200), 255)]))
    assert error.reason == FailureReason.NO_TEXT and "found no text" in str(error)


def test_with_ocr_off_a_scan_fails_saying_so() -> None:
    data = require_shared(TRICKY / "loremipsum-flat.pdf").read_bytes()
    error = failure(data, OcrConfig(OcrChoice.OFF))
    assert error.reason == FailureReason.NO_TEXT and "SCHOLAR_OCR=off" in str(error)


def test_a_text_layer_that_reads_well_is_kept() -> None:
    # Six scanned pages with an OCR layer of their own, noisy but mostly words.
    parsed = read(require_shared(TRICKY / "Seige_of_Vicksburg_Sample_OCR.pdf").read_bytes())
    assert len(parsed.pages) == 6 and all(page.strip() for page in parsed.pages)
    assert parsed.ocr is not None and parsed.ocr.scanned == ()


def test_the_page_cap_reads_the_first_pages_and_says_which_were_left() -> None:
    scan = lorem_scan()
    parsed = read(image_pdf([scan, scan, scan]), OcrConfig(max_pages=2))
    assert parsed.ocr is not None and parsed.ocr.read == (1, 2)
    assert "Lorem ipsum" in parsed.pages[1] and not parsed.pages[2].strip()
    assert "SCHOLAR_OCR_MAX_PAGES" in parsed.ocr.note and "no text for page 3" in parsed.ocr.note


def test_the_time_cap_starts_no_page_after_it_has_passed() -> None:
    scan = lorem_scan()
    progress: list[tuple[int, int]] = []
    config = OcrConfig(max_seconds=0.0)
    parsed = read_document(
        image_pdf([scan] * 6), ".pdf", ocr=config, ocr_progress=lambda *step: progress.append(step)
    )
    assert parsed.ocr is not None and 1 <= len(parsed.ocr.read) < 6  # those already started
    assert "SCHOLAR_OCR_MAX_SECONDS" in parsed.ocr.note
    assert progress[0] == (1, 6)


def test_rapidocr_reads_a_scan_from_its_wheel_alone() -> None:
    document = pdfium.PdfDocument(require_shared(TRICKY / "loremipsum-flat.pdf"))
    try:
        page = RapidOcrEngine().read(page_image(document[0]))
    finally:
        document.close()
    text = " ".join(page.text.split())
    assert "Pellentesque" in text and "vestibulum" in text
    assert all(0 <= edge <= 1 for word in page.words for edge in word.box)


def test_progress_counts_the_scanned_pages() -> None:
    scan = lorem_scan()
    steps: list[tuple[int, int]] = []
    read_document(
        image_pdf([scan, scan]), ".pdf", ocr=OCR_ON, ocr_progress=lambda *s: steps.append(s)
    )
    assert steps == [(1, 2), (2, 2)]
