"""A PDF page rendered as an image with a quoted passage highlighted on it; the pages of
another kind of file as the text its passages were cut from.

The quote comes from cleaned text (ligatures expanded, hyphenation joined, accents composed), so
it is matched against the page's characters on letters and digits alone, case-folded; each
matched character's box is then merged line by line into the rectangles that get painted. A
scanned page whose text layer does not hold the quote is read again by OCR (as ingestion read
it), and its words' boxes are matched the same way.
"""

import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from ingest.clean import clean_pages
from ingest.ocr import OcrChoice, OcrPage, OcrUnavailable, has_image, read_page
from ingest.readers import read_document

RENDER_SCALE = 1.6  # 72 dpi * 1.6: readable in a browser column without a huge image
HIGHLIGHT = (255, 213, 0, 90)  # translucent yellow
EDGE_KEY_CHARACTERS = 40  # when the whole quote is not found, find its start and its end


@dataclass(frozen=True)
class PageImage:
    image: Image.Image
    page: int  # 1-based
    pages: int
    highlighted: bool  # whether the quote was found on the page


class PageViewError(Exception):
    """The page cannot be shown (not a PDF, page out of range, unreadable file)."""


def text_pages(path: Path, extension: str) -> list[str]:
    """The pages of a stored file that is not a PDF, read and cleaned as ingestion does."""
    return clean_pages(read_document(path.read_bytes(), extension).pages)


def render_page(
    pdf_path: Path,
    page: int,
    quote: str,
    password: str | None = None,
    ocr: OcrChoice = OcrChoice.ON,
) -> PageImage:
    try:
        document = pdfium.PdfDocument(pdf_path, password=password)
    except pdfium.PdfiumError as error:
        raise PageViewError(f"{pdf_path.name} cannot be opened as a PDF: {error}") from None
    try:
        if not 1 <= page <= len(document):
            raise PageViewError(f"page {page} is outside 1-{len(document)}")
        pdf_page = document[page - 1]
        image = pdf_page.render(scale=RENDER_SCALE).to_pil().convert("RGBA")
        boxes = _quote_boxes(_layer_characters(pdf_page), quote)
        if not boxes and ocr != OcrChoice.OFF and has_image(pdf_page):
            boxes = _quote_boxes(_ocr_characters(pdf_page, ocr, image.size), quote)
        if boxes:
            image = _highlight(image, boxes, pdf_page.get_height())
        return PageImage(image.convert("RGB"), page, len(document), bool(boxes))
    finally:
        document.close()


Characters = list[tuple[str, tuple[float, float, float, float]]]  # text, box in PDF points


def _layer_characters(pdf_page: pdfium.PdfPage) -> Characters:
    text_page = pdf_page.get_textpage()
    return [
        (text_page.get_text_range(index, 1), text_page.get_charbox(index))
        for index in range(text_page.count_chars())
    ]


def _ocr_characters(
    pdf_page: pdfium.PdfPage, ocr: OcrChoice, image_size: tuple[int, int]
) -> Characters:
    """The OCR words' characters, each with its share of its word's box, in the points that
    `_highlight` maps onto the image (the boxes are fractions of the page image)."""
    try:
        read: OcrPage = read_page(pdf_page, ocr)
    except (OcrUnavailable, OSError, subprocess.SubprocessError):
        return []  # shown without a highlight; ingestion said why OCR could not run
    width, height = (size / RENDER_SCALE for size in image_size)
    page_height = pdf_page.get_height()
    characters: Characters = []
    for word in read.words:
        left, top, right, bottom = word.box
        step = (right - left) / len(word.text)
        for position, letter in enumerate(word.text):
            start, end = left + position * step, left + (position + 1) * step
            box = (
                start * width,
                page_height - bottom * height,
                end * width,
                page_height - top * height,
            )
            characters.append((letter, box))
        characters.append((" ", (0.0, 0.0, 0.0, 0.0)))
    return characters


def _quote_boxes(characters: Characters, quote: str) -> list[tuple[float, float, float, float]]:
    """The boxes (left, bottom, right, top, in PDF points) of the characters the quote covers."""
    page_key: list[str] = []  # one letter or digit of the page, case-folded
    owner: list[int] = []  # the character index each key letter came from
    for index, (text, _) in enumerate(characters):
        for letter in _key(text):
            page_key.append(letter)
            owner.append(index)
    haystack = "".join(page_key)
    needle = _key(quote)
    if not needle:
        return []
    spans = _find(haystack, needle)
    indexes = sorted({owner[i] for start, end in spans for i in range(start, end)})
    return [characters[index][1] for index in indexes]


def _find(haystack: str, needle: str) -> list[tuple[int, int]]:
    """Where the needle is: whole, or failing that from its start key to its end key."""
    start = haystack.find(needle)
    if start >= 0:
        return [(start, start + len(needle))]
    head, tail = needle[:EDGE_KEY_CHARACTERS], needle[-EDGE_KEY_CHARACTERS:]
    head_at = haystack.find(head)
    tail_at = haystack.find(tail, max(head_at, 0))
    if head_at >= 0 and tail_at >= 0 and tail_at - head_at < 2 * len(needle):
        return [(head_at, tail_at + len(tail))]
    return [(at, at + len(part)) for part, at in ((head, head_at), (tail, tail_at)) if at >= 0]


def _key(text: str) -> str:
    return "".join(
        letter for letter in unicodedata.normalize("NFKC", text).casefold() if letter.isalnum()
    )


def _highlight(
    image: Image.Image, boxes: list[tuple[float, float, float, float]], page_height: float
) -> Image.Image:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for left, bottom, right, top in _lines(boxes):
        # PDF points grow upwards from the bottom; image pixels grow downwards from the top.
        draw.rectangle(
            (
                left * RENDER_SCALE - 1,
                (page_height - top) * RENDER_SCALE - 1,
                right * RENDER_SCALE + 1,
                (page_height - bottom) * RENDER_SCALE + 1,
            ),
            fill=HIGHLIGHT,
        )
    return Image.alpha_composite(image, overlay)


def _lines(
    boxes: list[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float]]:
    """Character boxes merged into one rectangle per run of characters on the same line."""
    merged: list[list[float]] = []
    for left, bottom, right, top in boxes:
        if merged:
            last = merged[-1]
            same_line = abs(bottom - last[1]) < 0.5 * max(top - bottom, last[3] - last[1], 1.0)
            if same_line and left >= last[0] - 1:
                last[1], last[2], last[3] = (
                    min(last[1], bottom),
                    max(last[2], right),
                    max(last[3], top),
                )
                continue
        merged.append([left, bottom, right, top])
    return [(left, bottom, right, top) for left, bottom, right, top in merged]
