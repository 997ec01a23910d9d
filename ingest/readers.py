"""Files to page texts: PDF through pypdf page by page, plus plain text, Markdown and HTML.

Every failure is an `IngestError` whose message says which problem it is and what to do.
"""

import io
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import Path

import pypdf
from pypdf.errors import PdfReadError

from ingest.ocr import OCR_OFF, OcrChoice, OcrConfig, OcrReport, recognize_pages

PDF_EXTENSIONS = {".pdf"}
TEXT_EXTENSIONS = {".txt", ".text"}
MARKDOWN_EXTENSIONS = {".md", ".markdown"}
HTML_EXTENSIONS = {".html", ".htm"}
SUPPORTED_EXTENSIONS = PDF_EXTENSIONS | TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS | HTML_EXTENSIONS

_TITLE_JOINERS = {
    "a",
    "an",
    "and",
    "for",
    "from",
    "in",
    "of",
    "on",
    "or",
    "the",
    "to",
    "via",
    "with",
}
MIN_TEXT_CHARACTERS = 3  # fewer letters or digits than this in the whole file: nothing to index
_PAGE_NUMBER_BESIDE = re.compile(r"^\d{1,4}\s+(?=\D)|(?<=\D)[.,]?\s+\d{1,4}$")
_NOT_TITLES = {"contents", "table of contents", "abstract", "preface"}

PageProgress = Callable[[int, int], None]

# pypdf logs every repair it makes on damaged files; the outcome line says what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class FailureReason(StrEnum):
    UNSUPPORTED_TYPE = "unsupported type"
    NOT_FOUND = "not found"
    EMPTY = "empty file"
    TOO_LARGE = "too large"
    NOT_PDF = "not a PDF"
    CORRUPT = "corrupt PDF"
    PASSWORD_REQUIRED = "password required"
    WRONG_PASSWORD = "wrong password"
    NO_PAGES = "no pages"
    NO_TEXT = "no extractable text (scanned?)"
    NOT_TEXT = "not a text file"
    UNEXPECTED = "unexpected error"


class IngestError(Exception):
    """One file could not be ingested; the batch goes on."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class ParsedDocument:
    pages: list[str]  # raw text of page 1, 2, ... (one entry for formats without pages)
    title: str  # from the file's metadata or markup; empty when it has none
    ocr: OcrReport | None = None  # PDFs read with OCR on: which pages needed it, which it read


def read_document(
    data: bytes,
    extension: str,
    password: str | None = None,
    progress: PageProgress | None = None,
    ocr: OcrConfig = OCR_OFF,
    ocr_progress: PageProgress | None = None,
) -> ParsedDocument:
    if not data.strip():
        raise IngestError(FailureReason.EMPTY, "the file is empty; nothing to ingest")
    if extension in PDF_EXTENSIONS:
        parsed = read_pdf(data, password, progress, ocr, ocr_progress)
    elif extension in HTML_EXTENSIONS:
        parsed = read_html(decode_text(data))
    elif extension in MARKDOWN_EXTENSIONS:
        parsed = read_markdown(decode_text(data))
    elif extension in TEXT_EXTENSIONS:
        text = decode_text(data)
        parsed = ParsedDocument(pages=[text], title=_text_title(text))
    else:
        raise IngestError(FailureReason.UNSUPPORTED_TYPE, unsupported_message(extension))
    if sum(ch.isalnum() for page in parsed.pages for ch in page) < MIN_TEXT_CHARACTERS:
        if extension in PDF_EXTENSIONS:
            raise IngestError(FailureReason.NO_TEXT, _no_pdf_text(parsed.ocr))
        raise IngestError(FailureReason.NO_TEXT, "the file contains no words to index")
    return replace(parsed, title=_tidy_title(parsed.title))


def _no_pdf_text(report: OcrReport | None) -> str:
    if report is None:
        return (
            "the pages are images without a text layer and OCR is off (SCHOLAR_OCR=off); "
            "turn it on, or run OCR on it (for example `ocrmypdf in.pdf out.pdf`) and ingest "
            "the result"
        )
    if not report.scanned:
        return "the pages hold neither text nor images to read with OCR"
    if report.note:
        return f"the pages are images without a text layer; {report.note}"
    pages = len(report.scanned)
    return (
        f"the pages are images without a text layer, and OCR ({report.engine}) found no text "
        f"on the {pages} page{'s' if pages > 1 else ''} it read"
    )


def _tidy_title(title: str) -> str:
    """Ligatures spelt out ("ﬁ"), a page number beside it dropped ("THE SIEGE OF VICKSBURG. 49"),
    and capitals throughout turned to title case."""
    title = " ".join(unicodedata.normalize("NFKC", title).split())
    numberless = _PAGE_NUMBER_BESIDE.sub("", title)
    if numberless != title:
        title = numberless.rstrip(".")  # "VICKSBURG. 49": the stop went with the number
    if title.isupper() and len(title.split()) > 1:
        words = title.lower().split()
        title = " ".join(
            word if index and word in _TITLE_JOINERS else word.capitalize()
            for index, word in enumerate(words)
        )
    return title


def unsupported_message(extension: str) -> str:
    supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
    return f"'{extension or '(no extension)'}' files are not supported; use one of {supported}"


def read_pdf(
    data: bytes,
    password: str | None,
    progress: PageProgress | None,
    ocr: OcrConfig,
    ocr_progress: PageProgress | None,
) -> ParsedDocument:
    """The text layer page by page; pages without a usable one read by OCR unless it is off."""
    if b"%PDF-" not in data[:1024]:
        raise IngestError(
            FailureReason.NOT_PDF,
            "the file has no PDF header; was another kind of file renamed .pdf?",
        )
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt(reader, password)
        page_count = len(reader.pages)
    except IngestError:
        raise
    except Exception as error:  # pypdf raises many types on damaged files
        raise IngestError(
            FailureReason.CORRUPT,
            f"pypdf could not read it ({_describe(error)}); "
            "try re-saving or repairing it (for example `qpdf in.pdf out.pdf`)",
        ) from error
    if page_count == 0:
        raise IngestError(FailureReason.NO_PAGES, "the PDF has no pages")
    pages = []
    for number, page in enumerate(reader.pages, start=1):
        pages.append(_page_text(page))
        if progress:
            progress(number, page_count)
    report = None
    if ocr.choice != OcrChoice.OFF:
        pages, report = recognize_pages(data, password, pages, ocr, ocr_progress)
    title = _pdf_title(reader) or _first_line_title(pages[0])
    return ParsedDocument(pages=pages, title=title, ocr=report)


def _decrypt(reader: pypdf.PdfReader, password: str | None) -> None:
    try:
        decrypted = reader.decrypt(password or "")
    except PdfReadError as error:
        raise IngestError(FailureReason.CORRUPT, f"corrupt encryption data ({error})") from error
    if decrypted != pypdf.PasswordType.NOT_DECRYPTED:
        return
    if password:
        raise IngestError(
            FailureReason.WRONG_PASSWORD,
            "the password given does not open this encrypted PDF; check it and try again",
        )
    raise IngestError(
        FailureReason.PASSWORD_REQUIRED,
        "the PDF is encrypted; add it again with its password (the app's PDF password field, "
        "or --password PASSWORD on the command line)",
    )


def _page_text(page: pypdf.PageObject) -> str:
    try:
        return page.extract_text() or ""
    except Exception:  # one damaged page must not lose the rest of the document
        return ""


def _pdf_title(reader: pypdf.PdfReader) -> str:
    """The metadata title, or the subject where the title is a code ("2.3.59 (Rev 12/22)")."""
    try:
        metadata = reader.metadata or {}
        title, subject = (str(metadata.get(key) or "") for key in ("/Title", "/Subject"))
    except Exception:
        return ""
    title = _meaningful(title)
    if title and sum(ch.isalpha() for ch in title) < len(title) / 2:  # mostly numbers
        return _meaningful(subject) or title
    return title


def _meaningful(title: str) -> str:
    title = title.replace("\x00", "").strip()
    # Producers often leave a file name or a placeholder here.
    if len(title) < 4 or title.lower() in {"untitled", "title"}:
        return ""
    if re.search(r"\.(pdf|docx?|dvi|tex|jpe?g|png|tiff?)$", title, re.IGNORECASE):
        return ""
    return title


def _first_line_title(first_page: str) -> str:
    """The first line that reads like a title (a few words, mostly letters) and its continuation."""
    lines = [" ".join(line.split()) for line in first_page.splitlines()[:12]]
    for position, line in enumerate(lines):
        if not _title_like(line) or line.lower() in _NOT_TITLES:
            continue
        following = lines[position + 1] if position + 1 < len(lines) else ""
        if _title_like(following) and (_continues(line) or _title_line(following)):
            line = f"{line} {following}"
        return line[:200]
    return ""


def _title_line(line: str) -> bool:
    """A second line of a title in title case ("Learning Based Document Image Analysis"), not
    author names (two or three words, with marks and digits) or the text's first sentence."""
    words = line.split()
    return (
        len(words) >= 3
        and re.fullmatch(r"[A-Za-z \-]+", line) is not None
        and all(word[0].isupper() or word in _TITLE_JOINERS for word in words)
    )


def _text_title(text: str) -> str:
    """A plain text's first line, where it reads as a heading: a few words, no full stop."""
    first = next((" ".join(line.split()) for line in text.splitlines() if line.strip()), "")
    heading = _title_like(first) and len(first.split()) <= 15 and not first.endswith((".", ","))
    return first if heading else ""


def _title_like(line: str) -> bool:
    letters = sum(ch.isalpha() for ch in line)
    return len(line.split()) >= 2 and letters >= 8 and letters >= 0.6 * len(line)


def _continues(line: str) -> bool:
    last_word = line.rsplit(maxsplit=1)[-1].lower()
    return line.endswith((",", ":", "-")) or last_word in _TITLE_JOINERS


def _describe(error: Exception) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def decode_text(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise IngestError(
            FailureReason.NOT_TEXT,
            "this looks like a binary file, not text; check that the extension is right",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_markdown(text: str) -> ParsedDocument:
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return ParsedDocument(pages=[text], title=heading.group(1) if heading else "")


_HTML_SKIPPED = frozenset({"script", "style", "noscript", "template", "head"})
_HTML_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "pre"}
)
_HTML_VOID = frozenset({"br", "img", "meta", "link", "hr", "input"})


class _HTMLText(HTMLParser):
    """Visible text of an HTML page; blocks become paragraphs, scripts and styles are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_BLOCKS:
            self.parts.append("\n\n")
        if tag not in _HTML_VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass
        if tag in _HTML_BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if "title" in self._open:
            self.title_parts.append(data)
        elif not _HTML_SKIPPED.intersection(self._open):
            self.parts.append(data)


def read_html(text: str) -> ParsedDocument:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return ParsedDocument(pages=["".join(parser.parts)], title=" ".join(parser.title_parts).strip())


def extension_of(path: Path) -> str:
    return path.suffix.lower()
