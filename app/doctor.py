"""`scholar doctor`: does a home folder's store agree with its indexes and stored originals?

The store is the source of truth (each chunk keeps its embedding), so every repair is either
rebuilding an index from the store or removing what an interrupted ingest or delete left behind.
Checks and repairs run under the writer lock, so a document that is `indexing` then is one that
no running process will finish.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, select, update

from ingest.pipeline import original_path
from rag.store import Chunk, Collection, Document, DocumentStatus, Store
from rag.vector_index import TEMPORARY_SUFFIX, IndexRegistry

REBUILD_BATCH = 4096  # embeddings read from the store at a time while an index is rebuilt


class ProblemKind(StrEnum):
    STUCK_INDEXING = "document stuck in indexing"
    INCOMPLETE_DOCUMENT = "ready document with chunks missing"
    INDEX_MISMATCH = "index and store disagree"
    UNREADABLE_INDEX = "unreadable index"
    STRAY_INDEX = "index of a deleted collection"
    ORPHAN_ORIGINAL = "stored original no document uses"
    MISSING_ORIGINAL = "stored original missing"
    LEFTOVER_TEMPORARY = "leftover temporary file"


_REPAIRS = {
    ProblemKind.STUCK_INDEXING: "removed (its passages and vectors too); ingest the file again",
    ProblemKind.INCOMPLETE_DOCUMENT: "marked failed and its passages removed; ingest it again",
    ProblemKind.INDEX_MISMATCH: "index rebuilt from the embeddings in the store",
    ProblemKind.UNREADABLE_INDEX: "index rebuilt from the embeddings in the store",
    ProblemKind.STRAY_INDEX: "removed",
    ProblemKind.ORPHAN_ORIGINAL: "removed",
    ProblemKind.MISSING_ORIGINAL: "not repairable: search still works; ingest the file again",
    ProblemKind.LEFTOVER_TEMPORARY: "removed",
}


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    detail: str

    @property
    def repair(self) -> str:
        return _REPAIRS[self.kind]

    @property
    def repairable(self) -> bool:
        return self.kind != ProblemKind.MISSING_ORIGINAL

    def to_json(self) -> dict[str, object]:
        return {"kind": str(self.kind), "detail": self.detail, "repair": self.repair}


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    repaired: bool = False  # the repairable problems listed were repaired

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def unresolved(self) -> list[Problem]:
        return [p for p in self.problems if not (self.repaired and p.repairable)]

    def to_json(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "repaired": self.repaired,
            "unresolved": len(self.unresolved),
            "problems": [problem.to_json() for problem in self.problems],
        }


class Doctor:
    """Checks (and repairs) one home: its store, its indexes and its folder of originals."""

    def __init__(self, store: Store, indexes: IndexRegistry, files_dir: Path) -> None:
        self.store = store
        self.indexes = indexes
        self.files_dir = files_dir

    def check(self, thorough: bool = True, repair: bool = False) -> Report:
        """All problems found; `thorough` compares every chunk id with the index (which loads
        each index), otherwise only counts are compared (index headers: cheap at any size)."""
        with self.indexes.writing():
            report = Report(problems=list(self._problems(thorough)))
            if repair and any(problem.repairable for problem in report.problems):
                self._repair()
                report.repaired = True
        return report

    def check_at_start(self) -> Report:
        """The cheap check, and the repair if it found anything (what a crash leaves behind)."""
        report = self.check(thorough=False)
        if report.healthy:
            return report
        return self.check(thorough=True, repair=True)

    def _problems(self, thorough: bool) -> Iterator[Problem]:
        yield from self._temporary_problems()
        with self.store.session() as session:
            stuck = session.scalars(
                select(Document).where(Document.status == DocumentStatus.INDEXING)
            ).all()
            for document in stuck:
                yield Problem(
                    ProblemKind.STUCK_INDEXING, f"document {document.id} ({document.filename})"
                )
            collections = dict(session.execute(select(Collection.id, Collection.name)).all())
        yield from self._index_problems(collections, thorough)
        yield from self._original_problems()
        if thorough:
            for document_id, filename, expected, found in self._incomplete_documents():
                detail = f"document {document_id} ({filename}): {found} of {expected} chunks"
                yield Problem(ProblemKind.INCOMPLETE_DOCUMENT, detail)

    def _temporary_problems(self) -> Iterator[Problem]:
        for path in self._temporaries():
            yield Problem(ProblemKind.LEFTOVER_TEMPORARY, str(path))

    def _temporaries(self) -> list[Path]:
        folders = [self.files_dir]
        if self.indexes.root.is_dir():
            folders += [path for path in self.indexes.root.iterdir() if path.is_dir()]
        return sorted(
            path
            for folder in folders
            if folder.is_dir()
            for path in folder.glob(f".*{TEMPORARY_SUFFIX}")
        )

    def _index_problems(self, collections: dict[int, str], thorough: bool) -> Iterator[Problem]:
        for collection_id, name in collections.items():
            index = self.indexes.for_collection(collection_id)
            expected = self._ready_chunk_ids(collection_id) if thorough else None
            try:
                if thorough:
                    found = set(index.ids().tolist())
                    if found != expected:
                        missing, extra = len(expected - found), len(found - expected)
                        yield Problem(
                            ProblemKind.INDEX_MISMATCH,
                            f"collection {name!r}: {missing} passages without a vector, "
                            f"{extra} vectors without a ready passage",
                        )
                elif (index.stored_count() or 0) != self._ready_chunk_count(collection_id):
                    yield Problem(ProblemKind.INDEX_MISMATCH, f"collection {name!r}: counts differ")
            except (RuntimeError, ValueError) as error:  # FAISS raises RuntimeError on bad files
                yield Problem(ProblemKind.UNREADABLE_INDEX, f"collection {name!r}: {error}")
        for folder in self._stray_index_folders(collections):
            yield Problem(ProblemKind.STRAY_INDEX, str(folder))

    def _stray_index_folders(self, collections: dict[int, str]) -> list[Path]:
        if not self.indexes.root.is_dir():
            return []
        return sorted(
            folder
            for folder in self.indexes.root.iterdir()
            if folder.is_dir() and not (folder.name.isdigit() and int(folder.name) in collections)
        )

    def _ready_chunk_ids(self, collection_id: int) -> set[int]:
        with self.store.session() as session:
            return set(session.scalars(_ready_chunks(collection_id, Chunk.id)))

    def _ready_chunk_count(self, collection_id: int) -> int:
        with self.store.session() as session:
            return session.scalar(_ready_chunks(collection_id, func.count(Chunk.id))) or 0

    def _original_problems(self) -> Iterator[Problem]:
        used, ready = self._originals()
        stored = self._stored_originals()
        for name in sorted(stored - used):
            yield Problem(ProblemKind.ORPHAN_ORIGINAL, str(self.files_dir / name))
        for name in sorted(ready - stored):
            yield Problem(ProblemKind.MISSING_ORIGINAL, str(self.files_dir / name))

    def _originals(self) -> tuple[set[str], set[str]]:
        """File names of the originals in use (any document not failed) and of ready ones."""
        with self.store.session() as session:
            rows = session.execute(
                select(Document.sha256, Document.extension, Document.status).where(
                    Document.status != DocumentStatus.FAILED
                )
            ).all()
        names = {
            (original_path(self.files_dir, sha, ext).name, status) for sha, ext, status in rows
        }
        return {name for name, _ in names}, {n for n, s in names if s == DocumentStatus.READY}

    def _stored_originals(self) -> set[str]:
        if not self.files_dir.is_dir():
            return set()
        return {
            p.name for p in self.files_dir.iterdir() if p.is_file() and not p.name.startswith(".")
        }

    def _incomplete_documents(self) -> list[tuple[int, str, int, int]]:
        with self.store.session() as session:
            rows = session.execute(
                select(Document.id, Document.filename, Document.chunk_count, func.count(Chunk.id))
                .outerjoin(Chunk, Chunk.document_id == Document.id)
                .where(Document.status == DocumentStatus.READY)
                .group_by(Document.id)
                .having(func.count(Chunk.id) != Document.chunk_count)
            ).all()
        return [tuple(row) for row in rows]

    def _repair(self) -> None:
        """Every repair, in an order where each step sees the result of the ones before."""
        for path in self._temporaries():
            path.unlink(missing_ok=True)
        incomplete = [document_id for document_id, *_ in self._incomplete_documents()]
        with self.store.session(write=True) as session:
            session.execute(delete(Document).where(Document.status == DocumentStatus.INDEXING))
            if incomplete:
                session.execute(delete(Chunk).where(Chunk.document_id.in_(incomplete)))
                session.execute(
                    update(Document)
                    .where(Document.id.in_(incomplete))
                    .values(
                        status=DocumentStatus.FAILED,
                        chunk_count=0,
                        error="damaged: passages were missing (found by scholar doctor); "
                        "ingest the file again",
                    )
                )
            collections = dict(session.execute(select(Collection.id, Collection.name)).all())
        for collection_id in collections:
            self._rebuild(collection_id)
        for folder in self._stray_index_folders(collections):
            shutil.rmtree(folder)
        used, _ = self._originals()
        for name in self._stored_originals() - used:
            (self.files_dir / name).unlink(missing_ok=True)

    def _rebuild(self, collection_id: int) -> None:
        """The collection's index from the embeddings in the store, unless it already agrees."""
        index = self.indexes.for_collection(collection_id)
        expected = self._ready_chunk_ids(collection_id)
        try:
            if set(index.ids().tolist()) == expected:
                return
        except (RuntimeError, ValueError):
            pass  # unreadable: rebuilt below
        ids, vectors = self._embeddings(collection_id)
        if len(ids):
            index.replace_all(ids, vectors)
        else:
            index.clear()

    def _embeddings(self, collection_id: int) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        rows: list[np.ndarray] = []
        with self.store.session() as session:
            query = _ready_chunks(collection_id, Chunk.id, Chunk.embedding).order_by(Chunk.id)
            for chunk_id, embedding in session.execute(
                query.execution_options(yield_per=REBUILD_BATCH)
            ):
                ids.append(chunk_id)
                rows.append(np.frombuffer(embedding, dtype=np.float32))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.array(ids, dtype=np.int64), np.vstack(rows)


def _ready_chunks(collection_id: int, *columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .join(Document, Document.id == Chunk.document_id)
        .where(Document.collection_id == collection_id, Document.status == DocumentStatus.READY)
    )
