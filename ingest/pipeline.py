"""Ingestion of one file at a time: read, clean, chunk, embed, then store and index.

A document becomes visible (status ready) only after its chunks are in the store and its
vectors in the collection's index. Failures are recorded with their reason and never leave
chunks, vectors or files behind; the caller's batch goes on.
"""

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.chunking import ChunkDraft, chunk_pages
from ingest.clean import clean_pages
from ingest.names import display_name
from ingest.ocr import OCR_OFF, OcrConfig
from ingest.outcomes import FileOutcome, IngestStatus, duplicate, failed
from ingest.readers import (
    SUPPORTED_EXTENSIONS,
    FailureReason,
    IngestError,
    extension_of,
    read_document,
    unsupported_message,
)
from rag.embedder import Embedder
from rag.store import (
    Chunk,
    Document,
    DocumentStatus,
    Store,
    chunk_ids_of,
    document_by_hash,
    hash_in_use,
)
from rag.vector_index import TEMPORARY_SUFFIX, IndexRegistry

Progress = Callable[[str, int, int], None]  # (stage: "read" | "ocr" | "embed", done, total)


@dataclass(frozen=True)
class IngestConfig:
    chunk_tokens: int
    chunk_overlap: int
    max_file_bytes: int
    ocr: OcrConfig = OCR_OFF


@dataclass(frozen=True)
class _Prepared:
    sha256: str
    filename: str
    extension: str
    data: bytes
    title: str
    pages: int
    drafts: list[ChunkDraft]
    vectors: np.ndarray
    ocr_pages: int
    note: str


class Ingestor:
    """Adds documents to a collection, keeping store, index and files in step."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        indexes: IndexRegistry,
        files_dir: Path,
        config: IngestConfig,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.indexes = indexes
        self.files_dir = files_dir
        self.config = config

    def ingest_file(
        self,
        path: Path,
        collection_id: int,
        password: str | None = None,
        progress: Progress | None = None,
    ) -> FileOutcome:
        extension = extension_of(path)
        if extension not in SUPPORTED_EXTENSIONS:
            error = IngestError(FailureReason.UNSUPPORTED_TYPE, unsupported_message(extension))
            return failed(str(path), error)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise IngestError(FailureReason.NOT_FOUND, f"{path} is not a regular file")
        except FileNotFoundError:
            return failed(str(path), IngestError(FailureReason.NOT_FOUND, "no such file"))
        except IngestError as error:
            return failed(str(path), error)
        if size > self.config.max_file_bytes:
            limit_mb = self.config.max_file_bytes / 2**20
            error = IngestError(
                FailureReason.TOO_LARGE,
                f"{size / 2**20:.0f} MB is over the {limit_mb:.0f} MB limit (SCHOLAR_MAX_FILE_MB)",
            )
            return failed(str(path), error)
        return self.ingest_bytes(
            path.read_bytes(), path.name, collection_id, password, progress, source=str(path)
        )

    def ingest_bytes(
        self,
        data: bytes,
        filename: str,
        collection_id: int,
        password: str | None = None,
        progress: Progress | None = None,
        source: str | None = None,
    ) -> FileOutcome:
        """Ingest one file's content; every problem becomes a failed outcome, never an exception."""
        source = source or display_name(filename)
        try:
            return self._ingest_bytes(data, filename, collection_id, password, progress, source)
        except Exception as error:  # a bug or a full disk must not stop the rest of the batch
            detail = f"{type(error).__name__}: {error}; nothing was stored for this file"
            return failed(source, IngestError(FailureReason.UNEXPECTED, detail))

    def _ingest_bytes(
        self,
        data: bytes,
        filename: str,
        collection_id: int,
        password: str | None,
        progress: Progress | None,
        source: str,
    ) -> FileOutcome:
        filename = display_name(filename)
        extension = extension_of(Path(filename))
        if extension not in SUPPORTED_EXTENSIONS:
            error = IngestError(FailureReason.UNSUPPORTED_TYPE, unsupported_message(extension))
            return failed(source, error)
        if len(data) > self.config.max_file_bytes:
            return failed(source, IngestError(FailureReason.TOO_LARGE, "over the size limit"))
        sha256 = hashlib.sha256(data).hexdigest()
        with self.store.session() as session:
            existing = document_by_hash(session, collection_id, sha256)
            if existing is not None and existing.status == DocumentStatus.READY:
                return duplicate(source, existing)
        seconds: dict[str, float] = {}
        try:
            prepared = self._prepare(data, sha256, filename, extension, password, progress, seconds)
        except IngestError as error:
            self._record_failure(collection_id, sha256, filename, extension, len(data), error)
            return failed(source, error, seconds)
        started = time.perf_counter()
        try:
            with self.indexes.writing():
                existing = self._ready_copy(collection_id, sha256)
                document_id = existing.id if existing else self._store(collection_id, prepared)
        except IntegrityError:  # a writer that bypassed the lock stored the same file just now
            existing = self._ready_copy(collection_id, sha256)
            if existing is None:
                raise
        if existing is not None:  # another process stored the same file while this one worked
            return duplicate(source, existing)
        seconds["index"] = time.perf_counter() - started
        return FileOutcome(
            source=source,
            status=IngestStatus.INGESTED,
            document_id=document_id,
            pages=prepared.pages,
            chunks=len(prepared.drafts),
            seconds=seconds,
            ocr_pages=prepared.ocr_pages,
            note=prepared.note,
        )

    def _ready_copy(self, collection_id: int, sha256: str) -> Document | None:
        with self.store.session() as session:
            existing = document_by_hash(session, collection_id, sha256)
            return existing if existing and existing.status == DocumentStatus.READY else None

    def _prepare(
        self,
        data: bytes,
        sha256: str,
        filename: str,
        extension: str,
        password: str | None,
        progress: Progress | None,
        seconds: dict[str, float],
    ) -> _Prepared:
        started = time.perf_counter()
        parsed = read_document(
            data,
            extension,
            password,
            (lambda d, t: progress("read", d, t)) if progress else None,
            self.config.ocr,
            (lambda d, t: progress("ocr", d, t)) if progress else None,
        )
        seconds["read"] = time.perf_counter() - started

        started = time.perf_counter()
        drafts = chunk_pages(
            clean_pages(parsed.pages),
            self.embedder.count_tokens,
            self.config.chunk_tokens,
            self.config.chunk_overlap,
        )
        seconds["chunk"] = time.perf_counter() - started
        if not drafts:
            raise IngestError(FailureReason.NO_TEXT, "no text left after cleaning")

        started = time.perf_counter()
        vectors = self.embedder.embed(
            [draft.text for draft in drafts],
            (lambda d, t: progress("embed", d, t)) if progress else None,
        )
        seconds["embed"] = time.perf_counter() - started
        return _Prepared(
            sha256=sha256,
            filename=filename,
            extension=extension,
            data=data,
            title=parsed.title or Path(filename).stem,
            pages=len(parsed.pages),
            drafts=drafts,
            vectors=vectors,
            ocr_pages=len(parsed.ocr.read) if parsed.ocr else 0,
            note=parsed.ocr.note if parsed.ocr else "",
        )

    def _store(self, collection_id: int, prepared: _Prepared) -> int:
        """Original, rows (status indexing), vectors, then status ready, in that order, so that a
        crash at any point leaves only what `scholar doctor --repair` removes: an unreferenced
        original, a document still indexing, or vectors of such a document."""
        self._save_original(prepared)
        with self.store.session(write=True) as session:
            _forget(session, self.indexes, collection_id, prepared.sha256)
            document = Document(
                collection_id=collection_id,
                sha256=prepared.sha256,
                filename=prepared.filename,
                extension=prepared.extension,
                size_bytes=len(prepared.data),
                title=prepared.title,
                pages=prepared.pages,
                chunk_count=len(prepared.drafts),
                status=DocumentStatus.INDEXING,
                chunks=[
                    Chunk(
                        ordinal=ordinal,
                        text=draft.text,
                        page_start=draft.page_start,
                        page_end=draft.page_end,
                        token_count=draft.token_count,
                        embedding=vector.tobytes(),
                    )
                    for ordinal, (draft, vector) in enumerate(
                        zip(prepared.drafts, prepared.vectors, strict=True)
                    )
                ],
            )
            session.add(document)
            session.flush()
            document_id = document.id
            chunk_ids = np.array([chunk.id for chunk in document.chunks], dtype=np.int64)
        index = self.indexes.for_collection(collection_id)
        try:
            index.add(chunk_ids, prepared.vectors)
            with self.store.session(write=True) as session:
                session.execute(
                    update(Document)
                    .where(Document.id == document_id)
                    .values(status=DocumentStatus.READY)
                )
        except BaseException:
            remove_document(self.store, self.indexes, self.files_dir, document_id)
            raise
        return document_id

    def _save_original(self, prepared: _Prepared) -> None:
        target = original_path(self.files_dir, prepared.sha256, prepared.extension)
        if target.exists():
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
        with open(temporary, "wb") as handle:
            handle.write(prepared.data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def _record_failure(
        self,
        collection_id: int,
        sha256: str,
        filename: str,
        extension: str,
        size: int,
        error: IngestError,
    ) -> None:
        with self.indexes.writing(), self.store.session(write=True) as session:
            existing = document_by_hash(session, collection_id, sha256)
            if existing is not None and existing.status == DocumentStatus.READY:
                return  # stored by another process meanwhile (with the right password, say)
            _forget(session, self.indexes, collection_id, sha256)
            session.add(
                Document(
                    collection_id=collection_id,
                    sha256=sha256,
                    filename=filename,
                    extension=extension,
                    size_bytes=size,
                    title=Path(filename).stem,
                    status=DocumentStatus.FAILED,
                    error=str(error),
                )
            )


def remove_document(
    store: Store, indexes: IndexRegistry, files_dir: Path, document_id: int
) -> bool:
    """Delete a document with its chunks, vectors and (if no other document shares it) original."""
    with indexes.writing():
        with store.session(write=True) as session:
            document = session.get(Document, document_id)
            if document is None:
                return False
            collection_id, sha256, extension = (
                document.collection_id,
                document.sha256,
                document.extension,
            )
            document.status = DocumentStatus.INDEXING  # invisible while it is taken apart
        with store.session(write=True) as session:
            _forget(session, indexes, collection_id, sha256)
            still_used = hash_in_use(session, sha256)
        if not still_used:
            original_path(files_dir, sha256, extension).unlink(missing_ok=True)
    return True


def original_path(files_dir: Path, sha256: str, extension: str) -> Path:
    """Originals are stored by content hash, never by the name they were uploaded with."""
    return files_dir / f"{sha256}{extension}"


def _forget(session: Session, indexes: IndexRegistry, collection_id: int, sha256: str) -> None:
    """Drop an earlier record of this file (failed, or interrupted mid-way) and its vectors."""
    stale = document_by_hash(session, collection_id, sha256)
    if stale is None:
        return
    chunk_ids = chunk_ids_of(session, stale.id)
    if chunk_ids:
        indexes.for_collection(collection_id).remove(np.array(chunk_ids))
    session.execute(delete(Document).where(Document.id == stale.id))
