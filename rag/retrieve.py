"""Hybrid passage retrieval: dense (FAISS) and keyword (BM25) rankings fused by reciprocal rank,
refined by one round of pseudo-relevance feedback, with near-duplicate passages removed.

Pseudo-relevance feedback: the first round's best passages are taken as relevant. The query
vector moves towards their mean (Rocchio) and the dense side searches again; the keyword side
searches again with their most characteristic terms added (RM3). It helps most where a question
uses other words than its answer.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from rag.embedder import Embedder
from rag.keyword_index import feedback_terms, keyword_search
from rag.store import Chunk, Document, DocumentStatus, Store, ready_chunks
from rag.terms import names_in, searched_form
from rag.vector_index import IndexRegistry

Ranking = list[tuple[int, float]]  # (chunk id, score), best first
STATING_LIMIT = 2  # earlier passages stating a figure, looked up by `Retriever.stating`
NAMING_SCAN = 200  # chunks holding a name in any case, of which `Retriever.naming` keeps a few


@dataclass(frozen=True)
class RetrievalConfig:
    use_dense: bool = True  # turning one side off is for comparisons (bench/retrieval.py)
    use_keyword: bool = True
    candidates: int = 100  # from each ranking, before fusion
    rrf_k: int = 60  # the usual reciprocal-rank-fusion constant
    feedback_passages: int = 3  # dense (Rocchio) feedback; 0 turns all feedback off
    feedback_weight: float = 1.0
    keyword_feedback_passages: int = 5  # keyword (RM3) feedback
    keyword_feedback_terms: int = 10
    duplicate_similarity: float = 0.95  # passages this similar to a better one are dropped


@dataclass(frozen=True)
class Passage:
    rank: int
    score: float  # fused rank score: only its order means something
    similarity: float  # cosine similarity of query and passage, for thresholds
    chunk_id: int
    document_id: int
    ordinal: int
    filename: str
    title: str
    page_start: int
    page_end: int
    text: str

    @classmethod
    def from_chunk(
        cls, chunk: Chunk, rank: int = 0, score: float = 0.0, similarity: float = 0.0
    ) -> "Passage":
        """A stored chunk (with its document loaded) as a passage."""
        return cls(
            rank=rank,
            score=score,
            similarity=similarity,
            chunk_id=chunk.id,
            document_id=chunk.document_id,
            ordinal=chunk.ordinal,
            filename=chunk.document.filename,
            title=chunk.document.title,
            page_start=chunk.page_start,
            page_end=chunk.page_end,
            text=chunk.text,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "similarity": round(self.similarity, 4),
            "document_id": self.document_id,
            "filename": self.filename,
            "title": self.title,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "text": self.text,
        }


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int) -> Ranking:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)


class Retriever:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        indexes: IndexRegistry,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.indexes = indexes
        self.config = config or RetrievalConfig()

    def retrieve(
        self,
        query: str,
        collection_id: int,
        k: int = 5,
        document_ids: list[int] | None = None,
    ) -> list[Passage]:
        """The k best passages for the query, optionally only from the given documents."""
        if not query.strip():
            return []
        config = self.config
        query_vector = self.embedder.embed([query])[0]
        with self.store.session() as session:
            scope = _Scope(session, self.indexes, collection_id, document_ids, config.candidates)
            keyword: Ranking = []
            if config.use_keyword:
                keyword = keyword_search(
                    session, query, collection_id, config.candidates, document_ids
                )
                scope.load([chunk_id for chunk_id, _ in keyword])
            fused = self._fuse(keyword, scope, query_vector)
            if config.feedback_passages and fused:
                fused = self._feedback(session, scope, query, query_vector, keyword, fused)
            return self._select(scope, fused, query_vector, k)

    def openings(self, passages: list[Passage], chunks: int = 2) -> list[Passage]:
        """The first `chunks` passages (title and abstract) of the documents of `passages` that
        are not among them, ranked after them: a paper states its main facts in its abstract,
        which a question's words rarely match as well as a later detail."""
        documents = list(dict.fromkeys(passage.document_id for passage in passages))
        held = {passage.chunk_id for passage in passages}
        with self.store.session() as session:
            rows = session.scalars(
                select(Chunk)
                .where(Chunk.document_id.in_(documents), Chunk.ordinal < chunks)
                .options(joinedload(Chunk.document))
                .order_by(Chunk.document_id, Chunk.ordinal)
            )
            found = [chunk for chunk in rows if chunk.id not in held]
            return [
                Passage.from_chunk(chunk, rank=len(passages) + number)
                for number, chunk in enumerate(found, start=1)
            ]

    def stating(
        self, numbers: list[str], document_id: int, before_page: int, held: list[Passage]
    ) -> list[Passage]:
        """Up to STATING_LIMIT passages of a document, on pages before `before_page`, whose text
        holds each of `numbers` as written, ranked after `held`: where a paper first states
        what a later sentence or table repeats ("Our publisher-provided abstract coverage is
        90.4%, or 73.4M papers.", p. 4, before Table 3's "73.4M (90.4%)", p. 5), which
        retrieval may rank low."""
        if not numbers:
            return []
        ids = {passage.chunk_id for passage in held}
        with self.store.session() as session:
            rows = session.scalars(
                select(Chunk)
                .where(
                    Chunk.document_id == document_id,
                    Chunk.page_start < before_page,
                    Chunk.id.not_in(ids),
                    *(Chunk.text.contains(number, autoescape=True) for number in numbers),
                )
                .options(joinedload(Chunk.document))
                .order_by(Chunk.ordinal)
                .limit(STATING_LIMIT)
            )
            return [
                Passage.from_chunk(chunk, rank=len(held) + number)
                for number, chunk in enumerate(rows, start=1)
            ]

    def naming(
        self,
        names: list[str],
        collection_id: int,
        document_ids: list[int] | None,
        ranked_after: int,
        limit: int = 3,
    ) -> list[Passage]:
        """Up to `limit` passages of the collection whose text holds one of `names` as
        `rag.terms.names_in` finds them: BM25 matches whole words only, so "CRF" misses a
        table's "GrobidCRF". The database finds each name's searched form in any case,
        anywhere; then the finer match."""
        if not names:
            return []
        escaped = [
            searched_form(name).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            for name in names
        ]
        query = (
            select(Chunk)
            .join(Document)
            .where(
                Document.collection_id == collection_id,
                Document.status == DocumentStatus.READY,
                or_(*(Chunk.text.ilike(f"%{name}%", escape="\\") for name in escaped)),
            )
            .options(contains_eager(Chunk.document))
            .order_by(Chunk.id)
            .limit(NAMING_SCAN)
        )
        if document_ids is not None:
            query = query.where(Document.id.in_(document_ids))
        with self.store.session() as session:
            chunks = [
                chunk
                for chunk in session.scalars(query)
                if any(names_in(name, chunk.text) for name in names)
            ]
            return [
                Passage.from_chunk(chunk, rank=ranked_after + number)
                for number, chunk in enumerate(chunks[:limit], start=1)
            ]

    def _fuse(self, keyword: Ranking, scope: "_Scope", query_vector: np.ndarray) -> Ranking:
        dense = scope.dense(query_vector) if self.config.use_dense else []
        return reciprocal_rank_fusion([keyword, dense], self.config.rrf_k)

    def _feedback(
        self,
        session: Session,
        scope: "_Scope",
        query: str,
        query_vector: np.ndarray,
        keyword: Ranking,
        first: Ranking,
    ) -> Ranking:
        """Second round, each feedback passage weighted by how well it matched the query in the
        first (so a small collection's unrelated passages do not steer the query away)."""
        config = self.config
        if config.use_keyword and config.keyword_feedback_passages and keyword:
            bm25 = dict(keyword)
            best_bm25 = keyword[0][1] or 1.0
            weighted = [
                (scope.chunks[chunk_id].text, bm25.get(chunk_id, 0.0) / best_bm25)
                for chunk_id, _ in first[: config.keyword_feedback_passages]
            ]
            expansion = feedback_terms(session, query, weighted, config.keyword_feedback_terms)
            keyword = keyword_search(
                session,
                query,
                scope.collection_id,
                config.candidates,
                scope.document_ids,
                expansion,
            )
            scope.load([chunk_id for chunk_id, _ in keyword])
        top = np.stack(
            [scope.vector(chunk_id) for chunk_id, _ in first[: config.feedback_passages]]
        )
        similarity = np.maximum(top @ query_vector, 0.0)  # (feedback passages,)
        if similarity.max() <= 0:
            return first
        centroid = (similarity / similarity.sum()) @ top  # (dimension,)
        moved = query_vector + config.feedback_weight * centroid
        return self._fuse(keyword, scope, moved / np.linalg.norm(moved))

    def _select(
        self, scope: "_Scope", fused: Ranking, query_vector: np.ndarray, k: int
    ) -> list[Passage]:
        passages: list[Passage] = []
        kept: list[np.ndarray] = []
        for chunk_id, score in fused:
            vector = scope.vector(chunk_id)
            if kept and max(float(vector @ other) for other in kept) >= (
                self.config.duplicate_similarity
            ):
                continue
            kept.append(vector)
            similarity = float(vector @ query_vector)
            passages.append(
                Passage.from_chunk(scope.chunks[chunk_id], len(passages) + 1, score, similarity)
            )
            if len(passages) == k:
                break
        return passages


class _Scope:
    """The ready chunks a query may see, loaded from the store as rankings need them."""

    def __init__(
        self,
        session: Session,
        indexes: IndexRegistry,
        collection_id: int,
        document_ids: list[int] | None,
        candidates: int,
    ) -> None:
        self.session = session
        self.collection_id = collection_id
        self.document_ids = document_ids
        self.index = indexes.for_collection(collection_id)
        self.candidates = candidates
        self.chunks: dict[int, Chunk] = {}
        self._vectors: dict[int, np.ndarray] = {}
        # Within chosen documents, search their chunks exactly: a collection-wide top-k from
        # FAISS may hold none of them.
        self.exact: list[int] | None = None
        if document_ids is not None:
            rows = session.scalars(
                select(Chunk)
                .join(Document)
                .where(Chunk.document_id.in_(document_ids))
                .where(Document.collection_id == collection_id)
                .where(Document.status == DocumentStatus.READY)
                .options(contains_eager(Chunk.document))
            )
            self.chunks = {chunk.id: chunk for chunk in rows}
            self.exact = list(self.chunks)

    def load(self, chunk_ids: list[int]) -> None:
        missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in self.chunks]
        if missing:
            self.chunks.update(ready_chunks(self.session, missing))

    def vector(self, chunk_id: int) -> np.ndarray:
        if chunk_id not in self._vectors:
            self._vectors[chunk_id] = np.frombuffer(self.chunks[chunk_id].embedding, np.float32)
        return self._vectors[chunk_id]

    def dense(self, query_vector: np.ndarray) -> Ranking:
        if self.exact is not None:
            scored = [
                (chunk_id, float(self.vector(chunk_id) @ query_vector)) for chunk_id in self.exact
            ]
            return sorted(scored, key=lambda item: item[1], reverse=True)[: self.candidates]
        hits = self.index.search(query_vector, self.candidates)
        self.load([chunk_id for chunk_id, _ in hits])
        return [(chunk_id, score) for chunk_id, score in hits if chunk_id in self.chunks]
