"""The store: collections, documents, chunks, conversations and summaries in SQL (SQLite by
default, PostgreSQL by URL).

The database is the source of truth. Each chunk keeps its embedding, so a collection's vector
index can always be rebuilt from here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    contains_eager,
    mapped_column,
    relationship,
    sessionmaker,
)

from rag.keyword_index import install_keyword_index


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class DocumentStatus(StrEnum):
    INDEXING = "indexing"  # chunks stored, vectors being written: not yet visible
    READY = "ready"
    FAILED = "failed"  # kept with its error so the user can see what went wrong


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    documents: Mapped[list["Document"]] = relationship(
        back_populates="collection", cascade="all, delete-orphan", passive_deletes=True
    )


class Document(Base):
    __tablename__ = "documents"
    # Ids are never reused (SQLite reuses the highest freed one without AUTOINCREMENT): stored
    # answers cite documents by id.
    __table_args__ = (UniqueConstraint("collection_id", "sha256"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(1024))
    extension: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int]
    title: Mapped[str] = mapped_column(String(1024), default="")
    pages: Mapped[int] = mapped_column(default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.INDEXING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    collection: Mapped[Collection] = relationship(back_populates="documents")
    chunks: Mapped[list["Chunk"]] = relationship(
        back_populates="document",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Chunk.ordinal",
    )


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("document_id", "ordinal"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    page_start: Mapped[int]
    page_end: Mapped[int]
    token_count: Mapped[int]
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, unit length

    document: Mapped[Document] = relationship(back_populates="chunks")


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    turns: Mapped[list["ConversationTurn"]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ConversationTurn.id",
    )


class ConversationTurn(Base):
    __tablename__ = "conversation_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)  # the answer's JSON: citations, evidence, timings
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    conversation: Mapped[Conversation] = relationship(back_populates="turns")


class StoredSummary(Base):
    __tablename__ = "summaries"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    generator: Mapped[str] = mapped_column(String(1024))  # which model wrote it
    content: Mapped[str] = mapped_column(Text)  # the summary's JSON
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


WRITE_OPTION = "scholar_write"  # execution option that marks a connection's work as a write
SCHEMA_LOCK_KEY = 7_330_001  # PostgreSQL advisory lock taken while the schema is created


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, opens transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Writes start with BEGIN IMMEDIATE: they wait (busy_timeout) for the write lock up front.
    A deferred transaction that reads and then writes gets SQLITE_BUSY ("database is locked")
    at once, without waiting, when another process committed in between."""
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Store:
    """An engine and two session factories (reads, writes) over the schema above."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        writer = self.engine.execution_options(**{WRITE_OPTION: True})
        with writer.begin() as connection:
            # Several processes may open a new database at once; one creates the schema.
            if self.engine.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            Base.metadata.create_all(connection)
            install_keyword_index(connection)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A unit of work: committed when the block ends normally, rolled back otherwise.
        Pass `write=True` when the block reads and then writes (it takes the write lock first)."""
        factory = self._write_sessions if write else self._sessions
        with factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def collection_named(session: Session, name: str) -> Collection | None:
    return session.scalar(select(Collection).where(Collection.name == name))


def ensure_collection(session: Session, name: str) -> Collection:
    """The collection of this name, created if missing. Safe when two processes create it at
    once: the insert skips an existing name instead of failing, and it comes first, so on
    SQLite the transaction takes the write lock before it reads anything."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        session.execute(
            insert(Collection)
            .values(name=name, created_at=utc_now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
    collection = collection_named(session, name)
    if collection is None:
        collection = Collection(name=name)
        session.add(collection)
        session.flush()
    return collection


def document_by_hash(session: Session, collection_id: int, sha256: str) -> Document | None:
    return session.scalar(
        select(Document).where(Document.collection_id == collection_id, Document.sha256 == sha256)
    )


def chunk_ids_of(session: Session, document_id: int) -> list[int]:
    return list(session.scalars(select(Chunk.id).where(Chunk.document_id == document_id)))


def hash_in_use(session: Session, sha256: str) -> bool:
    """Whether any document in any collection still refers to this stored original."""
    return bool(session.scalar(select(func.count()).where(Document.sha256 == sha256)))


def ready_chunks(session: Session, chunk_ids: list[int]) -> dict[int, Chunk]:
    """The chunks among `chunk_ids` whose document is ready, with their documents loaded."""
    rows = session.scalars(
        select(Chunk)
        .join(Document)
        .where(Chunk.id.in_(chunk_ids), Document.status == DocumentStatus.READY)
        .options(contains_eager(Chunk.document))
    )
    return {chunk.id: chunk for chunk in rows}
