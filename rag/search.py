"""Passage search over one collection: dense similarity through the collection's FAISS index."""

from dataclasses import dataclass

from rag.embedder import Embedder
from rag.store import Store, ready_chunks
from rag.vector_index import IndexRegistry

OVERFETCH = 4  # vectors of documents still being written or just deleted are skipped


@dataclass(frozen=True)
class Passage:
    rank: int
    score: float
    chunk_id: int
    document_id: int
    filename: str
    title: str
    page_start: int
    page_end: int
    text: str

    def to_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "document_id": self.document_id,
            "filename": self.filename,
            "title": self.title,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "text": self.text,
        }


class Searcher:
    def __init__(self, store: Store, embedder: Embedder, indexes: IndexRegistry) -> None:
        self.store = store
        self.embedder = embedder
        self.indexes = indexes

    def search(self, query: str, collection_id: int, k: int = 5) -> list[Passage]:
        """The k passages most similar to the query, best first."""
        index = self.indexes.for_collection(collection_id)
        if not query.strip() or len(index) == 0:
            return []
        query_vector = self.embedder.embed([query])[0]
        hits = index.search(query_vector, k * OVERFETCH)
        with self.store.session() as session:
            chunks = ready_chunks(session, [chunk_id for chunk_id, _ in hits])
        passages = []
        for chunk_id, score in hits:
            chunk = chunks.get(chunk_id)
            if chunk is None:
                continue
            passages.append(
                Passage(
                    rank=len(passages) + 1,
                    score=score,
                    chunk_id=chunk_id,
                    document_id=chunk.document_id,
                    filename=chunk.document.filename,
                    title=chunk.document.title,
                    page_start=chunk.page_start,
                    page_end=chunk.page_end,
                    text=chunk.text,
                )
            )
            if len(passages) == k:
                break
        return passages
