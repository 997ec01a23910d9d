from pathlib import Path

import pytest

from ingest.readers import FailureReason, IngestError, read_document
from tests.conftest import TRICKY, PdfMaker, require_shared


def read_shared(name: str, password: str | None = None) -> list[str]:
    path = require_shared(TRICKY / name)
    return read_document(path.read_bytes(), ".pdf", password).pages


def failure(data: bytes, extension: str, password: str | None = None) -> IngestError:
    with pytest.raises(IngestError) as raised:
        read_document(data, extension, password)
    return raised.value


def test_pdf_text_is_read_page_by_page(make_pdf: PdfMaker) -> None:
    path = make_pdf("known.pdf", [["Alpha on the first page."], ["Beta on the second page."]])
    seen: list[tuple[int, int]] = []
    parsed = read_document(path.read_bytes(), ".pdf", progress=lambda d, t: seen.append((d, t)))
    assert len(parsed.pages) == 2
    assert "Alpha on the first page." in parsed.pages[0]
    assert "Beta on the second page." in parsed.pages[1]
    assert "Beta" not in parsed.pages[0]
    assert seen == [(1, 2), (2, 2)]
    assert parsed.title == "Alpha on the first page."


def test_text_markdown_and_html() -> None:
    assert read_document(b"plain words\n", ".txt").pages == ["plain words\n"]
    markdown = read_document(b"# Field Notes\n\nSome findings.", ".md")
    assert markdown.title == "Field Notes"
    html = read_document(
        b"<html><head><title>A &amp; B</title><style>p{}</style></head>"
        b"<body><p>First <b>para</b>.</p><script>alert('x')</script><p>Second.</p></body></html>",
        ".html",
    )
    assert html.title == "A & B"
    assert "First para." in html.pages[0] and "Second." in html.pages[0]
    assert "alert" not in html.pages[0] and "p{}" not in html.pages[0]


def test_latin1_text_is_decoded() -> None:
    assert read_document("café au lait".encode("cp1252"), ".txt").pages == ["café au lait"]


@pytest.mark.parametrize(
    ("data", "extension", "reason"),
    [
        (b"", ".pdf", FailureReason.EMPTY),
        (b"   \n", ".txt", FailureReason.EMPTY),
        (b"PK\x03\x04 this is a zip file renamed", ".pdf", FailureReason.NOT_PDF),
        (
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage with no xref",
            ".pdf",
            FailureReason.CORRUPT,
        ),
        (b"\x00\x01\x02binary", ".txt", FailureReason.NOT_TEXT),
        (b"some text", ".docx", FailureReason.UNSUPPORTED_TYPE),
        (b"!!! ... ???", ".txt", FailureReason.NO_TEXT),
    ],
)
def test_bad_input_gets_a_specific_reason(
    data: bytes, extension: str, reason: FailureReason
) -> None:
    error = failure(data, extension)
    assert error.reason == reason
    assert str(error).startswith(str(reason))


def test_truncated_pdf_is_reported_corrupt(make_pdf: PdfMaker) -> None:
    data = make_pdf("whole.pdf", [["Some text here."]]).read_bytes()
    assert failure(data[: len(data) // 3], ".pdf").reason in {
        FailureReason.CORRUPT,
        FailureReason.NO_TEXT,
    }


def test_encrypted_pdf_needs_its_password() -> None:
    path = require_shared(TRICKY / "crazyones-encrypted-256.pdf")
    error = failure(path.read_bytes(), ".pdf")
    assert error.reason == FailureReason.PASSWORD_REQUIRED
    assert "--password" in str(error) and "PDF password field" in str(error)  # CLI and app
    assert failure(path.read_bytes(), ".pdf", "not-it").reason == FailureReason.WRONG_PASSWORD
    pages = read_shared("crazyones-encrypted-256.pdf", password="password")
    assert "crazy" in " ".join(pages).lower()


def test_rc4_password_pdf() -> None:
    path = require_shared(TRICKY / "password.pdf")
    assert failure(path.read_bytes(), ".pdf").reason == FailureReason.PASSWORD_REQUIRED
    assert any(page.strip() for page in read_shared("password.pdf", password="password"))


@pytest.mark.parametrize(
    "name", ["imagemagick-CCITTFaxDecode.pdf", "loremipsum-flat.pdf", "encrypted_doc_no_id.pdf"]
)
def test_image_only_pdfs_read_without_ocr_have_no_extractable_text(name: str) -> None:
    # read_document reads text layers only unless given an OCR config (tests/ingest/test_ocr.py).
    path = require_shared(TRICKY / name)
    error = failure(path.read_bytes(), ".pdf")
    assert error.reason == FailureReason.NO_TEXT
    assert "scanned?" in str(error) and "OCR is off" in str(error)


def test_multilingual_text_is_preserved() -> None:
    text = " ".join(read_shared("multilang.pdf"))
    assert "Привет" in text and "你好世界" in text


def pdf_with_metadata(folder: Path, title: str, subject: str = "") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    if subject:
        pdf.set_subject(subject)
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "EFFECTIVE DATE")
    pdf.output(str(folder / "titled.pdf"))
    return (folder / "titled.pdf").read_bytes()


def test_pdf_metadata_title_is_used_when_meaningful(tmp_path: Path) -> None:
    parsed = read_document(pdf_with_metadata(tmp_path, "A Study of Known Titles"), ".pdf")
    assert parsed.title == "A Study of Known Titles"


def test_a_pdf_whose_title_is_a_code_is_named_by_its_subject(tmp_path: Path) -> None:
    """As the shared 400-page IRS manual's metadata has it."""
    data = pdf_with_metadata(tmp_path, "2.3.59 (Rev 12/22)", "Command Codes BMFOL and BMFOR")
    assert read_document(data, ".pdf").title == "Command Codes BMFOL and BMFOR"


def test_a_text_file_is_titled_by_its_first_line_that_reads_like_a_title() -> None:
    text = "Glacier retreat in the Alps\n\nThe Aletsch glacier has lost 3.2 km since 1870.\n"
    assert read_document(text.encode(), ".txt").title == "Glacier retreat in the Alps"
    assert read_document(b"42\n\nno title here at all, just text.", ".txt").title == ""


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("Seige_of_Vicksburg_Sample_OCR.pdf", "The Siege of Vicksburg"),  # "THE SIEGE ... 49"
        # "LayoutParser: A Uniﬁed Toolkit for Deep": a ligature, and the title's second line
        (
            "copy-protected.pdf",
            "LayoutParser: A Unified Toolkit for Deep Learning Based Document Image Analysis",
        ),
        ("multicolumn.pdf", "Two-Column Document with Lorem Ipsum"),  # not the author line
    ],
)
def test_a_title_from_the_first_page_is_tidied(name: str, title: str) -> None:
    path = require_shared(TRICKY / name)
    assert read_document(path.read_bytes(), ".pdf").title == title


def test_a_table_of_contents_heading_is_no_title(make_pdf: PdfMaker) -> None:
    """As on the first page of the shared 619-page PDF: the file name names it instead."""
    contents = make_pdf("manual.pdf", [["Table of Contents", "MAIN GAME ............ 6"]])
    assert read_document(contents.read_bytes(), ".pdf").title == ""
