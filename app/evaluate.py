"""Evaluation through the normal ingestion and retrieval path: retrieval quality on BEIR-format
sets (answer quality on question files is `app.evaluate_qa`).

A BEIR folder holds `corpus.jsonl` ({"_id","title","text"}), `queries.jsonl` ({"_id","text"})
and `qrels/test.tsv` (query-id, corpus-id, score; graded scores allowed). Gains are the graded
scores themselves, as in pytrec_eval and the BEIR papers.
"""

import dataclasses
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.service import Scholar, ScholarError
from app.settings import Settings
from ingest.outcomes import IngestStatus
from ingest.readers import FailureReason
from rag.retrieve import RetrievalConfig, Retriever

EVAL_COLLECTION = "evaluation"
DEPTH = 100  # passages retrieved per query: enough for Recall@100 and MAP

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    title: str
    text: str

    def as_file(self) -> tuple[bytes, str]:
        """Content and file name for ingestion: Markdown with the title as heading, unless the
        text already starts with its title."""
        if not self.title or self.text.startswith(self.title):
            return self.text.encode(), "document.txt"
        return f"# {self.title}\n\n{self.text}".encode(), "document.md"


@dataclass(frozen=True)
class BeirSet:
    corpus: list[CorpusDocument]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class RetrievalScores:
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    map: float
    queries: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "map": round(self.map, 4),
            "queries": self.queries,
        }


def load_beir(folder: Path) -> BeirSet:
    paths = {name: folder / name for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")}
    for name, path in paths.items():
        if not path.is_file():
            raise ScholarError(f"{folder} is not a BEIR folder: {name} is missing")
    corpus = [
        CorpusDocument(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for row in read_jsonl(paths["corpus.jsonl"])
    ]
    queries = {str(row["_id"]): str(row["text"]) for row in read_jsonl(paths["queries.jsonl"])}
    qrels: dict[str, dict[str, int]] = {}
    lines = paths["qrels/test.tsv"].read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if number == 1 and not fields[-1].lstrip("-").isdigit():
            continue  # header
        if len(fields) != 3 or not fields[2].lstrip("-").isdigit():
            raise ScholarError(f"{paths['qrels/test.tsv']}:{number}: expected query, doc, score")
        qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    return BeirSet(corpus, queries, qrels)


def read_jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ScholarError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return rows


def ndcg_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    gains = [max(judged.get(doc, 0), 0) for doc in ranked[:k]]
    ideal = sorted((max(score, 0) for score in judged.values()), reverse=True)[:k]
    ideal_dcg = _dcg(ideal)
    return _dcg(gains) / ideal_dcg if ideal_dcg else 0.0


def _dcg(gains: list[int]) -> float:
    return sum(gain / math.log2(position + 2) for position, gain in enumerate(gains))


def recall_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    relevant = {doc for doc, score in judged.items() if score > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    for position, doc in enumerate(ranked[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / position
    return 0.0


def average_precision(ranked: list[str], judged: dict[str, int]) -> float:
    relevant = {doc for doc, score in judged.items() if score > 0}
    hits, total = 0, 0.0
    for position, doc in enumerate(ranked, start=1):
        if doc in relevant:
            hits += 1
            total += hits / position
    return total / len(relevant) if relevant else 0.0


def evaluate_retrieval(
    folder: Path,
    settings: Settings,
    configs: dict[str, RetrievalConfig] | None = None,
    progress: Progress | None = None,
) -> dict[str, RetrievalScores]:
    """Ingest the corpus into a temporary home, then score each retrieval configuration
    (default: the one answering uses) on the judged queries."""
    data = load_beir(folder)
    configs = configs or {"default": RetrievalConfig()}
    with tempfile.TemporaryDirectory(prefix="scholar-eval-") as home:
        scholar = Scholar(
            dataclasses.replace(settings, home=Path(home), db_url=f"sqlite:///{home}/eval.db")
        )
        try:
            corpus_ids = _ingest_corpus(scholar, data.corpus, progress)
            collection_id = scholar.collection_id(EVAL_COLLECTION)
            judged = [(qid, text) for qid, text in data.queries.items() if qid in data.qrels]
            results = {}
            for name, config in configs.items():
                retriever = Retriever(scholar.store, scholar.embedder, scholar.indexes, config)
                runs = []
                for done, (query_id, text) in enumerate(judged, start=1):
                    passages = retriever.retrieve(text, collection_id, DEPTH)
                    ranked = [
                        corpus_id
                        for document_id in dict.fromkeys(p.document_id for p in passages)
                        for corpus_id in corpus_ids[document_id]
                    ]
                    runs.append((ranked, data.qrels[query_id]))
                    if progress:
                        progress(f"queries ({name})", done, len(judged))
                results[name] = _scores(runs)
        finally:
            scholar.store.dispose()
    return results


def _ingest_corpus(
    scholar: Scholar, corpus: list[CorpusDocument], progress: Progress | None
) -> dict[int, list[str]]:
    """Document id -> the corpus ids it holds (identical texts are stored once)."""
    corpus_ids: dict[int, list[str]] = {}
    for done, document in enumerate(corpus, start=1):
        content, filename = document.as_file()
        outcome = scholar.ingest_content(content, filename, EVAL_COLLECTION)
        if outcome.reason in (FailureReason.EMPTY, FailureReason.NO_TEXT):
            continue  # nothing to find: such a document only counts against recall
        if outcome.status == IngestStatus.FAILED or outcome.document_id is None:
            raise ScholarError(f"corpus document {document.id!r} failed: {outcome.error}")
        corpus_ids.setdefault(outcome.document_id, []).append(document.id)
        if progress:
            progress("corpus", done, len(corpus))
    return corpus_ids


def _scores(runs: list[tuple[list[str], dict[str, int]]]) -> RetrievalScores:
    count = len(runs)
    if not count:
        raise ScholarError("no query has judgments in qrels/test.tsv")
    return RetrievalScores(
        ndcg_at_10=sum(ndcg_at(ranked, judged, 10) for ranked, judged in runs) / count,
        recall_at_100=sum(recall_at(ranked, judged, 100) for ranked, judged in runs) / count,
        mrr_at_10=sum(reciprocal_rank_at(ranked, judged, 10) for ranked, judged in runs) / count,
        map=sum(average_precision(ranked, judged) for ranked, judged in runs) / count,
        queries=count,
    )
