from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from rag.store import Chunk, Collection, Document, DocumentStatus, Store, ensure_collection


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    yield store
    store.dispose()


def add_document(store: Store, sha256: str = "a" * 64, chunks: int = 2) -> int:
    with store.session() as session:
        collection = ensure_collection(session, "papers")
        document = Document(
            collection_id=collection.id,
            sha256=sha256,
            filename="paper.pdf",
            extension=".pdf",
            size_bytes=10,
            status=DocumentStatus.READY,
            chunks=[
                Chunk(
                    ordinal=n, text=f"t{n}", page_start=1, page_end=1, token_count=1, embedding=b""
                )
                for n in range(chunks)
            ],
        )
        session.add(document)
        session.flush()
        return document.id


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'scholar.db'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.dispose()


def test_deleting_a_document_deletes_its_chunks_in_the_database(store: Store) -> None:
    document_id = add_document(store)
    with store.engine.begin() as connection:  # plain SQL: the cascade is the database's own
        connection.execute(text("DELETE FROM documents WHERE id = :id"), {"id": document_id})
    with store.session() as session:
        assert session.scalar(select(func.count(Chunk.id))) == 0


def test_a_file_is_stored_once_per_collection(store: Store) -> None:
    add_document(store)
    with pytest.raises(IntegrityError):
        add_document(store)
    add_document(store, sha256="b" * 64)
    with store.session() as session:
        assert session.scalar(select(func.count(Document.id))) == 2


def test_ensure_collection_is_idempotent(store: Store) -> None:
    with store.session() as session:
        first = ensure_collection(session, "x").id
    with store.session() as session:
        assert ensure_collection(session, "x").id == first
        assert session.scalar(select(func.count(Collection.id))) == 1


def test_a_failed_unit_of_work_is_rolled_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        ensure_collection(session, "never")
        raise RuntimeError("boom")
    with store.session() as session:
        assert session.scalar(select(func.count(Collection.id))) == 0
