"""Each kind of bad input, in one batch through the service: its own reason, the batch goes on."""

import dataclasses
import io
from pathlib import Path

import pypdf

from app.service import Scholar
from app.settings import Settings
from ingest.outcomes import IngestStatus
from ingest.readers import FailureReason
from tests.conftest import TOPIC_PAGES, TRICKY, PdfMaker, require_shared


def zero_page_pdf() -> bytes:
    buffer = io.BytesIO()
    pypdf.PdfWriter().write(buffer)
    return buffer.getvalue()


def test_every_kind_of_bad_input_gets_its_own_reason(
    settings: Settings, make_pdf: PdfMaker, tmp_path: Path
) -> None:
    scholar = Scholar(dataclasses.replace(settings, max_file_mb=1))
    good = make_pdf("good.pdf", TOPIC_PAGES)
    files = {
        "renamed.pdf": b"PK\x03\x04 a zip archive, renamed",
        "empty.pdf": b"",
        "huge.pdf": b"%PDF-1.7\n" + b"0" * (2 * 2**20),
        "slides.pptx": b"PK\x03\x04",
        "zero-pages.pdf": zero_page_pdf(),
        "truncated.pdf": good.read_bytes()[:300],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / name for name in files] + [good]
    outcomes = {Path(o.source).name: o for o in scholar.ingest(paths)}
    wrong = scholar.ingest([require_shared(TRICKY / "password.pdf")], password="not-it")
    outcomes["password.pdf"] = next(iter(wrong))
    assert outcomes.pop("good.pdf").status == IngestStatus.INGESTED
    assert {name: o.reason for name, o in outcomes.items()} == {
        "renamed.pdf": FailureReason.NOT_PDF,
        "empty.pdf": FailureReason.EMPTY,
        "huge.pdf": FailureReason.TOO_LARGE,
        "slides.pptx": FailureReason.UNSUPPORTED_TYPE,
        "zero-pages.pdf": FailureReason.NO_PAGES,
        "truncated.pdf": FailureReason.CORRUPT,
        "password.pdf": FailureReason.WRONG_PASSWORD,
    }
    assert all(o.status == IngestStatus.FAILED for o in outcomes.values())
    assert "SCHOLAR_MAX_FILE_MB" in outcomes["huge.pdf"].error
    assert [d.filename for d in scholar.documents() if d.status == "ready"] == ["good.pdf"]
    scholar.store.dispose()
