"""OCR of PDF pages that hold an image but no usable text layer, offline.

A page is rendered with pypdfium2 and read by one of two engines: Tesseract (Debian's
`tesseract-ocr`, used when it is installed: faster and more accurate here, see bench/ocr.py) or
RapidOCR (PP-OCRv4 ONNX models inside the `rapidocr-onnxruntime` wheel, so OCR works on any
machine). Each word keeps its box, as fractions of the page image, so that a quote from a scanned
page can be highlighted like one from a text layer (app/page_view.py reads the page again).
"""

import io
import os
import shutil
import subprocess
import time
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Protocol

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
from PIL import Image

OCR_DPI = 200  # enough for 8-point print; more costs time and gains no accuracy (bench/ocr.py)
MAX_PIXELS = 12_000_000  # a poster-sized page is rendered smaller than OCR_DPI
MIN_LAYER_CHARACTERS = 20  # fewer letters or digits on a page: it has no usable text layer
MIN_WORD_SHARE = 0.5  # fewer tokens that read as words: the text layer is garbage
# stdin to stdout, English, automatic page segmentation (columns and blocks, no orientation)
TESSERACT_COMMAND = ("tesseract", "stdin", "stdout", "-l", "eng", "--psm", "3")
PAGE_TIMEOUT_SECONDS = 120  # one page that the engine cannot finish is left without text

PageProgress = Callable[[int, int], None]
Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the page image


class OcrChoice(StrEnum):
    ON = "on"  # Tesseract where it is installed, else RapidOCR
    OFF = "off"
    TESSERACT = "tesseract"
    RAPIDOCR = "rapidocr"


@dataclass(frozen=True)
class OcrConfig:
    choice: OcrChoice = OcrChoice.ON
    max_pages: int = 100  # scanned pages read per file
    max_seconds: float = 300.0  # no page is started after this long on one file


OCR_OFF = OcrConfig(OcrChoice.OFF)


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: Box
    line: int  # words of one line share it; lines count up in reading order
    paragraph: int


@dataclass(frozen=True)
class OcrPage:
    words: list[OcrWord]

    @property
    def text(self) -> str:
        """Words joined by spaces, lines by newlines, paragraphs by blank lines."""
        parts: list[str] = []
        previous: OcrWord | None = None
        for word in self.words:
            if previous is not None:
                if word.paragraph != previous.paragraph:
                    parts.append("\n\n")
                else:
                    parts.append("\n" if word.line != previous.line else " ")
            parts.append(word.text)
            previous = word
        return "".join(parts)


@dataclass(frozen=True)
class OcrReport:
    engine: str  # the engine that read the pages; "" where none could run
    scanned: tuple[int, ...]  # 1-based pages that needed OCR
    read: tuple[int, ...]  # pages whose text now comes from OCR
    note: str = ""  # why some scanned pages were not read (a cap, no engine); "" if all were


class OcrUnavailable(Exception):
    """The engine chosen is not installed here."""


class Engine(Protocol):
    name: str
    workers: int  # pages read at once

    def read(self, image: Image.Image) -> OcrPage: ...


class TesseractEngine:
    """The `tesseract` command, one process a page, its TSV output: words with boxes in its own
    reading order (blocks, paragraphs, lines), columns included."""

    name = "tesseract"

    def __init__(self) -> None:
        if shutil.which("tesseract") is None:
            raise OcrUnavailable(
                "the tesseract command is not installed (apt-get install tesseract-ocr), "
                "or set SCHOLAR_OCR=rapidocr"
            )
        self.workers = max(1, min(os.cpu_count() or 1, 4))

    def read(self, image: Image.Image) -> OcrPage:
        png = io.BytesIO()
        image.save(png, format="PNG")
        done = subprocess.run(
            [*TESSERACT_COMMAND, "--dpi", str(OCR_DPI), "tsv"],
            input=png.getvalue(),
            capture_output=True,
            timeout=PAGE_TIMEOUT_SECONDS,
            env=os.environ | {"OMP_THREAD_LIMIT": "1"},  # one core a page; pages run side by side
            check=True,
        )
        width, height = image.size
        words: list[OcrWord] = []
        lines: dict[tuple[int, int, int], int] = {}  # (block, paragraph, line): running number
        paragraphs: dict[tuple[int, int], int] = {}
        for row in done.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
            fields = row.split("\t")
            if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
                continue  # not a word (a page, block, paragraph or line row), or an empty one
            block, paragraph, line = (int(value) for value in fields[2:5])
            left, top, box_width, box_height = (int(value) for value in fields[6:10])
            box = (
                left / width,
                top / height,
                (left + box_width) / width,
                (top + box_height) / height,
            )
            line_number = lines.setdefault((block, paragraph, line), len(lines))
            paragraph_number = paragraphs.setdefault((block, paragraph), len(paragraphs))
            words.append(OcrWord(fields[11].strip(), box, line_number, paragraph_number))
        return OcrPage(words)


class RapidOcrEngine:
    """RapidOCR's text lines, put in reading order (a two-column page column by column) and cut
    into words whose boxes share the line's box by their characters."""

    name = "rapidocr"
    workers = 1  # onnxruntime uses every core for one page

    def __init__(self) -> None:
        self.recognizer = _rapidocr()

    def read(self, image: Image.Image) -> OcrPage:
        pixels = np.asarray(image.convert("RGB"))
        found, _ = self.recognizer(pixels, use_cls=False)
        height, width = pixels.shape[:2]
        lines = []
        for corners, text, _score in found or []:
            xs, ys = [x for x, _ in corners], [y for _, y in corners]
            box = (min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)
            lines.append((box, " ".join(text.split())))
        words = []
        for number, (paragraph, (box, text)) in enumerate(_reading_order(lines)):
            words.extend(_words_of_line(text, box, number, paragraph))
        return OcrPage(words)


@cache
def _rapidocr() -> object:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(use_cls=False)


def _reading_order(lines: list[tuple[Box, str]]) -> Iterator[tuple[int, tuple[Box, str]]]:
    """Lines top to bottom; between two lines that cross the page's middle, the lines of its
    left half first, then those of its right half. Yields (paragraph, line): a paragraph is a run
    of lines in one column without a gap taller than a line."""
    ordered: list[tuple[Box, str]] = []
    band: list[tuple[Box, str]] = []

    def close_band() -> None:
        ordered.extend(sorted((ln for ln in band if ln[0][2] <= 0.52), key=lambda ln: ln[0][1]))
        ordered.extend(sorted((ln for ln in band if ln[0][2] > 0.52), key=lambda ln: ln[0][1]))
        band.clear()

    for line in sorted(lines, key=lambda ln: ln[0][1]):
        left, _, right, _ = line[0]
        if left < 0.48 and right > 0.52:
            close_band()
            ordered.append(line)
        else:
            band.append(line)
    close_band()
    paragraph = 0
    for position, line in enumerate(ordered):
        if position:
            above = ordered[position - 1][0]
            line_height = above[3] - above[1]
            if line[0][1] - above[3] > line_height or line[0][1] < above[1]:
                paragraph += 1
        yield paragraph, line


def _words_of_line(text: str, box: Box, line: int, paragraph: int) -> list[OcrWord]:
    left, top, right, bottom = box
    step = (right - left) / max(len(text), 1)
    words = []
    start = 0
    for word in text.split(" "):
        words.append(
            OcrWord(
                word,
                (left + start * step, top, left + (start + len(word)) * step, bottom),
                line,
                paragraph,
            )
        )
        start += len(word) + 1
    return words


def engine_for(choice: OcrChoice) -> Engine:
    """The engine that `choice` names; ON takes Tesseract where it is installed."""
    if choice == OcrChoice.RAPIDOCR:
        return RapidOcrEngine()
    if choice == OcrChoice.ON and shutil.which("tesseract") is None:
        return RapidOcrEngine()
    return TesseractEngine()


def needs_ocr(layer_text: str) -> bool:
    """Whether a page's text layer is missing, or mostly garbage (glyphs without a usable
    mapping: replacement marks, private-use codes, runs of symbols)."""
    if sum(ch.isalnum() for ch in layer_text) < MIN_LAYER_CHARACTERS:
        return True
    return word_share(layer_text) < MIN_WORD_SHARE


def word_share(text: str) -> float:
    """The share of a text's tokens that read as words: mostly letters or digits, in a script."""
    tokens = text.split()
    if not tokens:
        return 0.0
    return sum(_word_like(token) for token in tokens) / len(tokens)


def _word_like(token: str) -> bool:
    if any(unicodedata.category(ch) in ("Co", "Cn", "Cs") or ch in "\ufffd\ufffe" for ch in token):
        return False
    return sum(ch.isalnum() for ch in token) >= 0.6 * len(token)


def has_image(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_IMAGE]))


def page_image(page: pdfium.PdfPage) -> Image.Image:
    """The page in grey at OCR_DPI, or smaller where that would exceed MAX_PIXELS."""
    width, height = page.get_size()
    scale = min(OCR_DPI / 72, (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
    return page.render(scale=scale, grayscale=True).to_pil()


def read_page(page: pdfium.PdfPage, choice: OcrChoice) -> OcrPage:
    """One page's words by OCR (the page view's highlights of scanned pages)."""
    return engine_for(choice).read(page_image(page))


def recognize_pages(
    data: bytes,
    password: str | None,
    layer_texts: list[str],
    config: OcrConfig,
    progress: PageProgress | None = None,
) -> tuple[list[str], OcrReport]:
    """The page texts with OCR text on the pages that need it (no usable text layer and an image
    to read), up to the file's page and time caps; a garbage layer is kept where OCR reads fewer
    words. Pages are rendered here, one at a time, and read by the engine's workers."""
    document = pdfium.PdfDocument(data, password=password)
    try:
        scanned = tuple(
            number
            for number, text in enumerate(layer_texts, start=1)
            if needs_ocr(text) and has_image(document[number - 1])
        )
        if not scanned:
            return layer_texts, OcrReport("", scanned, ())
        try:
            engine = engine_for(config.choice)
        except OcrUnavailable as error:
            return layer_texts, OcrReport("", scanned, (), f"OCR could not run: {error}")
        results, note = _read_within_caps(document, scanned, engine, config, progress)
    finally:
        document.close()
    texts = list(layer_texts)
    read = []
    for number, page in results.items():
        text = page.text
        if text.strip() and word_share(text) >= word_share(texts[number - 1]):
            texts[number - 1] = text
            read.append(number)
    return texts, OcrReport(engine.name, scanned, tuple(read), note)


def _read_within_caps(
    document: pdfium.PdfDocument,
    scanned: tuple[int, ...],
    engine: Engine,
    config: OcrConfig,
    progress: PageProgress | None,
) -> tuple[dict[int, OcrPage], str]:
    started = time.monotonic()
    allowed = scanned[: config.max_pages]
    results: dict[int, OcrPage] = {}
    failures: list[int] = []
    pending: dict[int, Future[OcrPage]] = {}
    queue = list(allowed)
    out_of_time = False
    with ThreadPoolExecutor(engine.workers) as pool:
        while queue or pending:
            while queue and len(pending) < engine.workers and not out_of_time:
                number = queue.pop(0)
                pending[number] = pool.submit(engine.read, page_image(document[number - 1]))
            number = min(pending)
            try:
                results[number] = pending.pop(number).result()
            except (subprocess.SubprocessError, OSError):
                failures.append(number)
            if progress:
                progress(len(results) + len(failures), len(allowed))
            out_of_time = time.monotonic() - started >= config.max_seconds
            if out_of_time:
                queue.clear()
    return results, _cap_note(scanned, results, failures, config, out_of_time)


def _cap_note(
    scanned: tuple[int, ...],
    results: dict[int, OcrPage],
    failures: list[int],
    config: OcrConfig,
    out_of_time: bool,
) -> str:
    notes = []
    unread = [number for number in scanned if number not in results and number not in failures]
    if unread:
        cap = (
            f"the {config.max_seconds:g} s limit (SCHOLAR_OCR_MAX_SECONDS)"
            if out_of_time
            else f"the {config.max_pages}-page limit (SCHOLAR_OCR_MAX_PAGES)"
        )
        notes.append(
            f"OCR stopped at {cap} after {len(results) + len(failures)} of {len(scanned)} "
            f"scanned pages; no text for {_pages(unread)}"
        )
    if failures:
        notes.append(f"OCR failed on {_pages(failures)}")
    return "; ".join(notes)


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(str(number) for number in numbers[:5])
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return f"page{'s' if len(numbers) > 1 else ''} {shown}{more}"
