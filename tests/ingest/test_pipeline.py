import dataclasses
import re

import numpy as np
import pytest
from sqlalchemy import func, select

from app.service import Scholar
from app.settings import Settings
from ingest.outcomes import IngestStatus
from ingest.pipeline import original_path
from ingest.readers import FailureReason
from rag.store import Chunk, Document, DocumentStatus
from rag.vector_index import VectorIndex
from tests.conftest import PAPERS, TOPIC_PAGES, TRICKY, PdfMaker, require_shared

MARKER = re.compile(r"Finding (\d+) on page (\d+)")


def numbered_pages(count: int, per_page: int) -> list[list[str]]:
    return [
        [
            " ".join(
                f"Finding {n} on page {page} concerns sample {page * 100 + n}."
                for n in range(start, start + per_page // 2)
            )
            for start in (1, per_page // 2 + 1)
        ]
        for page in range(1, count + 1)
    ]


def chunks_of(scholar: Scholar, document_id: int) -> list[Chunk]:
    with scholar.store.session() as session:
        return list(
            session.scalars(
                select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.ordinal)
            )
        )


def index_of(scholar: Scholar, collection: str = "default") -> VectorIndex:
    return scholar.indexes.for_collection(scholar.collection_id(collection))


def row_counts(scholar: Scholar) -> tuple[int, int]:
    with scholar.store.session() as session:
        return (
            session.scalar(select(func.count(Document.id))) or 0,
            session.scalar(select(func.count(Chunk.id))) or 0,
        )


@pytest.fixture
def small_chunks(settings: Settings) -> Scholar:
    service = Scholar(dataclasses.replace(settings, chunk_tokens=60, chunk_overlap=15))
    yield service
    service.store.dispose()


def test_chunks_carry_exact_page_spans_and_skip_running_lines(
    small_chunks: Scholar, make_pdf: PdfMaker
) -> None:
    path = make_pdf(
        "report.pdf",
        numbered_pages(4, per_page=10),
        header="Proceedings of Testing 2026",
        footer="Page {page} of 4",
    )
    [outcome] = small_chunks.ingest([path])
    assert outcome.status == IngestStatus.INGESTED
    assert (outcome.pages, outcome.document_id) == (4, 1)
    chunks = chunks_of(small_chunks, outcome.document_id)
    assert outcome.chunks == len(chunks) > 4
    seen = set()
    for chunk in chunks:
        pages = [int(page) for _, page in MARKER.findall(chunk.text)]
        assert (chunk.page_start, chunk.page_end) == (min(pages), max(pages))
        assert "Proceedings of Testing" not in chunk.text and "of 4" not in chunk.text
        seen.update(MARKER.findall(chunk.text))
    assert len(seen) == 40
    assert len(index_of(small_chunks)) == len(chunks)
    assert set(index_of(small_chunks).ids()) == {chunk.id for chunk in chunks}


def test_reingesting_the_same_file_changes_nothing(scholar: Scholar, make_pdf: PdfMaker) -> None:
    path = make_pdf("topics.pdf", TOPIC_PAGES)
    [first] = scholar.ingest([path])
    index = index_of(scholar)
    before = (row_counts(scholar), index.path.stat().st_mtime_ns, len(index))
    renamed = path.rename(path.with_name("renamed copy.pdf"))
    [again] = scholar.ingest([renamed])
    assert again.status == IngestStatus.DUPLICATE
    assert again.document_id == first.document_id
    assert (row_counts(scholar), index.path.stat().st_mtime_ns, len(index)) == before
    assert len(list(scholar.settings.files_dir.iterdir())) == 1


def test_delete_removes_document_chunks_vectors_and_original(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    keep = make_pdf("keep.pdf", [["Glaciers carve U-shaped valleys over thousands of years."]])
    drop = make_pdf("drop.pdf", TOPIC_PAGES)
    kept, dropped = scholar.ingest([keep, drop])
    with scholar.store.session() as session:
        dropped_doc = session.get(Document, dropped.document_id)
        stored = original_path(scholar.settings.files_dir, dropped_doc.sha256, ".pdf")
    assert stored.exists()
    scholar.delete_document(dropped.document_id)
    assert not stored.exists()
    assert chunks_of(scholar, dropped.document_id) == []
    assert [d.id for d in scholar.documents()] == [kept.document_id]
    assert set(index_of(scholar).ids()) == {c.id for c in chunks_of(scholar, kept.document_id)}
    assert [p.document_id for p in scholar.search("volcanic eruption lava", k=3)] == [
        kept.document_id
    ]


def test_same_file_in_two_collections_shares_the_original_until_both_are_deleted(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    path = make_pdf("shared.pdf", TOPIC_PAGES)
    [in_a] = scholar.ingest([path], collection="a")
    [in_b] = scholar.ingest([path], collection="b")
    assert in_b.status == IngestStatus.INGESTED and in_a.document_id != in_b.document_id
    [stored] = scholar.settings.files_dir.iterdir()
    scholar.delete_document(in_a.document_id)
    assert stored.exists()
    assert len(scholar.search("gothic cathedral arches", collection="b")) > 0
    scholar.delete_document(in_b.document_id)
    assert not stored.exists()


def test_a_failed_file_is_recorded_without_leftovers_and_can_be_retried(
    scholar: Scholar,
) -> None:
    path = require_shared(TRICKY / "crazyones-encrypted-256.pdf")
    [failed] = scholar.ingest([path])
    assert failed.status == IngestStatus.FAILED
    assert failed.reason == FailureReason.PASSWORD_REQUIRED
    [record] = scholar.documents()
    assert (record.status, record.chunks) == ("failed", 0)
    assert "password required" in record.error
    assert row_counts(scholar) == (1, 0)
    assert not scholar.settings.files_dir.exists() or not any(scholar.settings.files_dir.iterdir())

    [retried] = scholar.ingest([path], password="password")
    assert retried.status == IngestStatus.INGESTED
    assert [(d.id, d.status) for d in scholar.documents()] == [(retried.document_id, "ready")]


def test_a_batch_goes_on_past_bad_files(scholar: Scholar, make_pdf: PdfMaker, tmp_path) -> None:
    good = make_pdf("good.pdf", TOPIC_PAGES)
    renamed = tmp_path / "really-text.pdf"
    renamed.write_text("I am not a PDF at all")
    unsupported = tmp_path / "slides.pptx"
    unsupported.write_bytes(b"PK\x03\x04")
    paths = [
        require_shared(TRICKY / "password.pdf"),
        require_shared(TRICKY / "imagemagick-CCITTFaxDecode.pdf"),
        renamed,
        good,
        unsupported,
        tmp_path / "missing.pdf",
        require_shared(TRICKY / "multicolumn.pdf"),
    ]
    outcomes = {o.source.rsplit("/", 1)[-1]: o for o in scholar.ingest(paths)}
    assert outcomes["good.pdf"].status == IngestStatus.INGESTED
    assert outcomes["multicolumn.pdf"].status == IngestStatus.INGESTED
    reasons = {name: o.reason for name, o in outcomes.items() if o.status == "failed"}
    assert reasons == {
        "password.pdf": FailureReason.PASSWORD_REQUIRED,
        "imagemagick-CCITTFaxDecode.pdf": FailureReason.NO_TEXT,  # a smiley, no text to OCR
        "really-text.pdf": FailureReason.NOT_PDF,
        "slides.pptx": FailureReason.UNSUPPORTED_TYPE,
        "missing.pdf": FailureReason.NOT_FOUND,
    }
    ready = {d.filename for d in scholar.documents() if d.status == "ready"}
    assert ready == {"good.pdf", "multicolumn.pdf"}


def test_an_error_while_indexing_leaves_nothing_half_written(
    scholar: Scholar, make_pdf: PdfMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    [earlier] = scholar.ingest([make_pdf("earlier.pdf", [["Tides follow the moon."]])])
    before = len(index_of(scholar))

    def disk_full(self: VectorIndex, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(VectorIndex, "add", disk_full)
    [failed] = scholar.ingest([make_pdf("later.pdf", TOPIC_PAGES)])
    assert failed.status == IngestStatus.FAILED and failed.reason == FailureReason.UNEXPECTED
    assert "No space left on device" in failed.error
    assert [d.id for d in scholar.documents()] == [earlier.document_id]
    assert row_counts(scholar)[1] == len(chunks_of(scholar, earlier.document_id)) == before
    assert len(list(scholar.settings.files_dir.iterdir())) == 1

    monkeypatch.undo()
    [retried] = scholar.ingest([make_pdf("later.pdf", TOPIC_PAGES)])
    assert retried.status == IngestStatus.INGESTED


def test_an_interrupted_ingest_is_invisible_and_replaced_on_the_next_try(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    path = make_pdf("topics.pdf", TOPIC_PAGES)
    [first] = scholar.ingest([path])
    with scholar.store.session() as session:  # as if the process died before marking it ready
        session.get(Document, first.document_id).status = DocumentStatus.INDEXING
    assert scholar.documents() == []
    assert scholar.search("volcanic eruption lava") == []
    [second] = scholar.ingest([path])
    assert second.status == IngestStatus.INGESTED
    assert row_counts(scholar) == (1, second.chunks)
    assert set(index_of(scholar).ids()) == {c.id for c in chunks_of(scholar, second.document_id)}


def test_shared_papers_ingest_with_text_on_every_page(scholar: Scholar) -> None:
    folder = require_shared(PAPERS)
    outcomes = list(scholar.ingest([folder]))
    assert [o.status for o in outcomes] == [IngestStatus.INGESTED] * 2
    for outcome in outcomes:
        covered = set()
        for chunk in chunks_of(scholar, outcome.document_id):
            covered.update(range(chunk.page_start, chunk.page_end + 1))
        assert covered == set(range(1, outcome.pages + 1))
    titles = {d.title for d in scholar.documents()}
    assert "S2ORC: The Semantic Scholar Open Research Corpus" in titles


def test_a_scanned_pdf_is_ingested_by_ocr_with_its_pages(scholar: Scholar) -> None:
    scanned, noisy = scholar.ingest(
        [
            require_shared(TRICKY / "encrypted_doc_no_id.pdf"),  # pages 1 and 3 blank
            require_shared(TRICKY / "Seige_of_Vicksburg_Sample_OCR.pdf"),  # its own OCR layer
        ]
    )
    assert (scanned.status, scanned.pages, scanned.ocr_pages) == (IngestStatus.INGESTED, 3, 1)
    assert scanned.label == "ingested (OCR, 1 page)" and not scanned.note
    [chunk] = chunks_of(scholar, scanned.document_id)
    assert (chunk.page_start, chunk.page_end) == (2, 2)
    assert "international search report" in " ".join(chunk.text.split())
    assert [p.page_start for p in scholar.search("international search report", k=1)] == [2]

    assert (noisy.status, noisy.pages, noisy.ocr_pages) == (IngestStatus.INGESTED, 6, 0)
    spans = {(c.page_start, c.page_end) for c in chunks_of(scholar, noisy.document_id)}
    assert {page for span in spans for page in span} == set(range(1, 7))
