"""What happened to one file: ingested (with its pages, chunks and OCR), duplicate or failed."""

from dataclasses import dataclass, field
from enum import StrEnum

from ingest.readers import FailureReason, IngestError
from rag.store import Document


class IngestStatus(StrEnum):
    INGESTED = "ingested"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass
class FileOutcome:
    source: str  # the path given, or the uploaded file's name
    status: IngestStatus
    document_id: int | None = None
    pages: int | None = None
    chunks: int | None = None
    error: str | None = None
    reason: FailureReason | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage: read, chunk, embed, index
    duplicate_of: str | None = None  # the file name the same content was ingested under
    ocr_pages: int = 0  # pages whose text came from OCR
    note: str = ""  # what the file's outcome should also say (OCR cut short by a cap)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.source,
            "status": str(self.status),
            "document_id": self.document_id,
            "pages": self.pages,
            "chunks": self.chunks,
            "error": self.error,
            "duplicate_of": self.duplicate_of,
            "ocr_pages": self.ocr_pages,
            "note": self.note,
        }

    @property
    def label(self) -> str:
        """The status as people read it: "ingested (OCR, 3 pages)" where OCR read pages."""
        if self.status != IngestStatus.INGESTED or not self.ocr_pages:
            return str(self.status)
        return f"{self.status} (OCR, {self.ocr_pages} page{'s' if self.ocr_pages > 1 else ''})"


def failed(source: str, error: IngestError, seconds: dict[str, float] | None = None) -> FileOutcome:
    return FileOutcome(
        source=source,
        status=IngestStatus.FAILED,
        error=str(error),
        reason=error.reason,
        seconds=seconds or {},
    )


def duplicate(source: str, existing: Document) -> FileOutcome:
    return FileOutcome(
        source=source,
        status=IngestStatus.DUPLICATE,
        document_id=existing.id,
        pages=existing.pages,
        chunks=existing.chunk_count,
        duplicate_of=existing.filename,
    )
