"""Hostile uploads: names that try to escape the home folder or fool the reader, and a check
that nothing untrusted is ever unpickled."""

import re
import unicodedata
from pathlib import Path

import pytest

from app.service import Scholar
from ingest.outcomes import IngestStatus
from tests.conftest import TOPIC_PAGES, PdfMaker

HOSTILE_NAMES = {
    "../../../../tmp/escaped.pdf": "escaped.pdf",
    "/etc/cron.d/owned.pdf": "owned.pdf",
    "..\\..\\windows\\system32\\evil.pdf": "evil.pdf",
    "invoice\u202efdp.exe.pdf": "invoicefdp.exe.pdf",  # right-to-left override removed
    "bell\x07 and\nnew line \x1b[2J.pdf": "bell and new line [2J.pdf",
    "Cafe\u0301 re\u0301sume\u0301.pdf": "Café résumé.pdf",  # NFC: one code point each
    "../": "unnamed",
}
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(HOSTILE_NAMES))
def test_uploaded_names_are_stored_by_hash_and_shown_safely(
    name: str, scholar: Scholar, make_pdf: PdfMaker, tmp_path: Path
) -> None:
    data = make_pdf("upload.pdf", [TOPIC_PAGES[0]]).read_bytes()
    before = set(tmp_path.parent.rglob("*"))
    outcome = scholar.ingest_content(data, name)
    if HOSTILE_NAMES[name] == "unnamed":  # no extension left: refused, nothing written
        assert outcome.status == IngestStatus.FAILED and "not supported" in outcome.error
        return
    assert outcome.status == IngestStatus.INGESTED, outcome.error
    [document] = scholar.documents()
    assert document.filename == HOSTILE_NAMES[name] and outcome.source == HOSTILE_NAMES[name]
    assert all(unicodedata.category(ch) not in {"Cc", "Cf"} for ch in document.filename)
    [stored] = scholar.settings.files_dir.iterdir()
    assert re.fullmatch(r"[0-9a-f]{64}\.pdf", stored.name)
    written = set(tmp_path.parent.rglob("*")) - before
    assert all(path.is_relative_to(scholar.settings.home) for path in written)


UNSAFE_LOADING = re.compile(
    r"\bimport pickle\b|\bpickle\.loads?\(|\bdill\b|\bjoblib\.load\(|allow_pickle\s*=\s*True"
    r"|torch\.load\((?![^)]*weights_only\s*=\s*True)"
)


def test_nothing_untrusted_is_unpickled() -> None:
    """Weights come through safetensors or GGUF and indexes through FAISS's own format; no
    product code may load pickles (torch.load only with weights_only=True)."""
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for package in ("app", "rag", "ingest", "model")
        for path in sorted((REPO / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UNSAFE_LOADING.search(line)
    ]
    assert offenders == []
