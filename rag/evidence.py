"""Evidence at sentence level: the sentences of the retrieved passages ranked by how well each
answers the question. Dense similarity alone prefers sentences that sound like the question
("Not all papers in S2ORC can be found in ...") over the one that answers it; so the score adds
a lexical match (the share of the question's terms it states), the passage's retrieval rank, and the
question's type: a "how many" question wants a sentence that states a figure, a "when" question
one that states a year. Reference entries, acknowledgements, author credits and table rows are
no evidence whatever their words."""

import math
import re
from collections import Counter
from dataclasses import dataclass, replace

from rag.citations import figures_of, sentences_with_pages
from rag.embedder import Embedder
from rag.retrieve import Passage
from rag.terms import content_terms, question_terms

MIN_WORDS = 6  # headings and fragments are no evidence
EMBEDDED_CANDIDATES = 64  # sentences embedded per question: the lexically best, and the top
TOP_PASSAGES = 3  # ... passages' sentences whatever their words
LEXICAL_WEIGHT = 0.5  # times the share of the question's terms stated, relative to the best
PASSAGE_WEIGHT = 0.04  # divided by the passage's retrieval rank
TYPE_BONUS = 0.2  # a sentence that states what the question asks for (a figure, a year)
NOT_EVIDENCE_PENALTY = 0.3

_ASKS_FIGURE = re.compile(
    r"\b(how (many|much|large|big|long|often|fast|small|accurate)|number of|amount of|size of|"
    r"how (well|poorly|accurately)|what (percentage|proportion|fraction|share|size|scores?|"
    r"accuracy|f1|precision|recall|performance))\b",
    re.IGNORECASE,
)
_ASKS_YEAR = re.compile(r"\b(when|what year|which year)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_REFERENCE_ENTRY = re.compile(
    r"(In Proceedings|Proceedings of the|arXiv preprint|arXiv:\d|\bdoi:|"
    r"\bpages \d+\s*[-\u2013]\s*\d+|Association for Computational Linguistics)",
    re.IGNORECASE,
)
_CREDITS = re.compile(
    r"\b(thanks?|thank(ed|ful)|acknowledge?ments?|grants?|funded|funding|contributed|"
    r"contributions? to (this|the) (work|project|paper)|led the|advis(ed|ing)|internship|"
    r"correspondence|equal contribution)\b",
    re.IGNORECASE,
)
_NUMERIC_TOKEN = re.compile(r"^[\d.,%\u00b1+\-\u2013()]+$")


@dataclass(frozen=True)
class EvidenceSentence:
    passage: Passage  # the best-ranked passage that holds it
    page: int
    text: str
    score: float  # fused score: only its order means something
    similarity: float  # cosine similarity of question and sentence


@dataclass(frozen=True)
class RankedEvidence:
    sentences: list[EvidenceSentence]  # best first
    coverage: float  # idf-weighted share of the question's terms that the best three state


def rank_evidence(question: str, passages: list[Passage], embedder: Embedder) -> RankedEvidence:
    """The candidate sentences of `passages` (distinct, of some length), best first."""
    candidates = _candidates(passages)
    if not candidates:
        return RankedEvidence([], 0.0)
    asked = question_terms(question)
    terms = [content_terms(text) for _, _, text in candidates]
    idf = _idf(terms)
    lexical = [_term_coverage(asked, set(sentence), idf, len(terms)) for sentence in terms]
    embedded = _worth_embedding(candidates, lexical)
    vectors = embedder.embed_cached([candidates[index][2] for index in embedded])
    similarities = vectors @ embedder.embed_cached([question])[0]  # (embedded,)
    best_lexical = max(lexical) or 1.0
    wants_figure, wants_year = (
        bool(_ASKS_FIGURE.search(question)),
        bool(_ASKS_YEAR.search(question)),
    )
    ranked = []
    for index, similarity in zip(embedded, similarities, strict=True):
        passage, page, text = candidates[index]
        score = (
            float(similarity)
            + LEXICAL_WEIGHT * lexical[index] / best_lexical
            + PASSAGE_WEIGHT / passage.rank
            + TYPE_BONUS * _states_asked_type(text, wants_figure, wants_year)
            - NOT_EVIDENCE_PENALTY * _is_not_evidence(text, wants_figure)
        )
        ranked.append(EvidenceSentence(passage, page, text, score, float(similarity)))
    ranked.sort(key=lambda sentence: sentence.score, reverse=True)
    stated = {term for sentence in ranked[:3] for term in content_terms(sentence.text)}
    return RankedEvidence(ranked, _term_coverage(asked, stated, idf, len(candidates)))


def _candidates(passages: list[Passage]) -> list[tuple[Passage, int, str]]:
    """(passage, page, sentence) of each distinct sentence, from the best passage holding it."""
    seen: set[tuple[int, str]] = set()
    candidates = []
    for passage in sorted(passages, key=lambda passage: passage.rank):
        for page, text in sentences_with_pages(passage):
            key = (passage.document_id, text)
            if len(text.split()) >= MIN_WORDS and key not in seen:
                seen.add(key)
                candidates.append((passage, page, text))
    return candidates


def _idf(terms: list[list[str]]) -> dict[str, float]:
    frequency = Counter(term for sentence in terms for term in set(sentence))
    count = len(terms)
    return {term: math.log(1 + (count - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}


def _absent_idf(count: int) -> float:
    """The idf of a term that no candidate holds."""
    return math.log(1 + (count + 0.5) / 0.5)


def _term_coverage(asked: list[str], stated: set[str], idf: dict[str, float], count: int) -> float:
    """The idf-weighted share of the question's terms that `stated` holds (a term no candidate
    holds weighs most). Unlike BM25 it does not favour short sentences over a table's row."""
    if not asked:
        return 1.0
    weights = {term: idf.get(term, _absent_idf(count)) for term in asked}
    return sum(weight for term, weight in weights.items() if term in stated) / sum(weights.values())


def _worth_embedding(candidates: list[tuple[Passage, int, str]], lexical: list[float]) -> list[int]:
    """Indexes of the candidates to embed: those of the best passages, then the lexically best,
    up to EMBEDDED_CANDIDATES (embedding every sentence of a dozen passages costs seconds)."""
    top = [i for i, (passage, _, _) in enumerate(candidates) if passage.rank <= TOP_PASSAGES]
    by_lexical = sorted(range(len(candidates)), key=lambda index: -lexical[index])
    chosen = dict.fromkeys(top[:EMBEDDED_CANDIDATES])
    for index in by_lexical:
        if len(chosen) >= EMBEDDED_CANDIDATES:
            break
        chosen.setdefault(index)
    return sorted(chosen)


def _states_asked_type(text: str, wants_figure: bool, wants_year: bool) -> bool:
    if wants_year:
        return bool(_YEAR.search(text))
    return wants_figure and bool(figures_of(text))


def _is_not_evidence(text: str, wants_figure: bool) -> bool:
    """A reference entry, an acknowledgement or author credit, or (unless the question asks
    for a figure, which tables hold) a table row."""
    tokens = text.split()
    numeric = sum(bool(_NUMERIC_TOKEN.match(token)) for token in tokens)
    return (
        bool(_REFERENCE_ENTRY.search(text))
        or bool(_CREDITS.search(text))
        or (not wants_figure and numeric >= 0.35 * len(tokens))
    )


def best_similarity(evidence: RankedEvidence) -> float:
    """The highest cosine similarity of a candidate sentence to the question."""
    return max((sentence.similarity for sentence in evidence.sentences), default=0.0)


def sentence_sources(evidence: list[EvidenceSentence], count: int) -> list[Passage]:
    """The best `count` sentences as the prompt's sources for a small model: one source per
    page they come from (best page first), each holding its sentences in reading order."""
    pages: dict[tuple[int, int], list[EvidenceSentence]] = {}
    for sentence in evidence[:count]:
        pages.setdefault((sentence.passage.document_id, sentence.page), []).append(sentence)
    sources = []
    for rank, sentences in enumerate(pages.values(), start=1):
        sentences.sort(key=lambda sentence: (sentence.passage.ordinal, _position(sentence)))
        first = sentences[0]
        sources.append(
            replace(
                first.passage,
                rank=rank,
                page_start=first.page,
                page_end=first.page,
                text="\n".join(sentence.text for sentence in sentences),
            )
        )
    return sources


def passage_sources(
    evidence: list[EvidenceSentence], retrieved: list[Passage], count: int
) -> list[Passage]:
    """Whole passages as the prompt's sources for a large model: those holding the best three
    sentences first, then the rest in retrieval order, `count` in all."""
    leading = [sentence.passage for sentence in evidence[:3]]
    chosen = {passage.chunk_id: passage for passage in [*leading, *retrieved]}
    return list(chosen.values())[:count]


def _position(sentence: EvidenceSentence) -> int:
    return sentence.passage.text.find(sentence.text[:20])
