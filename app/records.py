"""The records the service hands out, and its error: plain values for the CLI and the app."""

from dataclasses import dataclass
from pathlib import Path


class ScholarError(Exception):
    """A request that cannot be carried out, with a message meant for the user."""


def counted(number: int | None, noun: str) -> str:
    """ "1 page", "15 pages"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass(frozen=True)
class CollectionSummary:
    name: str
    documents: int
    chunks: int

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "documents": self.documents, "chunks": self.chunks}


@dataclass(frozen=True)
class DocumentSummary:
    id: int
    collection: str
    filename: str
    title: str
    pages: int
    chunks: int
    status: str
    error: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "filename": self.filename,
            "title": self.title,
            "pages": self.pages,
            "chunks": self.chunks,
            "status": self.status,
            "error": self.error,
        }


@dataclass(frozen=True)
class OriginalFile:
    path: Path  # stored under its content hash
    filename: str  # the name it was uploaded under, for downloads
    extension: str
