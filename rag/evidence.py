"""Evidence at sentence level: the sentences of the retrieved passages ranked by how well each
answers the question. Dense similarity alone prefers sentences that sound like the question
("Not all papers in S2ORC can be found in ...") over the one that answers it; so the score adds
a lexical match (the share of the question's terms it states), the passage's retrieval rank, and the
question's type: a "how many" question wants a sentence that states a figure, a "when" question
one that states a year. A sentence that opens by pointing back ("This relationship ...",
"As such, ...") is read with the sentence before it, which says what it points to (and the
prompt shows both). Reference entries, acknowledgements, author credits and table rows are no
evidence whatever their words."""

import math
import re
from collections import Counter
from dataclasses import dataclass, replace

from rag.citations import figures_of, sentences_with_pages
from rag.embedder import Embedder
from rag.retrieve import Passage
from rag.terms import content_terms, names_in, question_names, question_terms

MIN_WORDS = 6  # headings and fragments are no evidence
EMBEDDED_CANDIDATES = 64  # sentences embedded per question: the lexically best, and the top
TOP_PASSAGES = 3  # ... passages' sentences whatever their words
LEXICAL_WEIGHT = 0.5  # times the share of the question's terms stated, relative to the best
PASSAGE_WEIGHT = 0.04  # divided by the passage's retrieval rank
TYPE_BONUS = 0.2  # a sentence that states what the question asks for (a figure, a year)
NOT_EVIDENCE_PENALTY = 0.3
CAPITALISED_SHARE = 0.5  # above this share of capitalised words, a title, author list or heading

_ASKS_FIGURE = re.compile(
    r"\b(how (many|much|large|big|long|often|fast|small|accurate|similar)|number of|amount of|"
    r"size of|how (well|poorly|accurately)|what (percentage|proportion|fraction|share|size|scores?|"
    r"accuracy|f1|precision|recall|performance))\b",
    re.IGNORECASE,
)
_ASKS_YEAR = re.compile(r"\b(when|what year|which year)\b", re.IGNORECASE)
_POINTS_BACK = re.compile(r"^(This|These|That|Those|Such|As such|Thus|Hence|Therefore)\b")
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
    context: str = ""  # the sentence before, for one that points back to it

    @property
    def read(self) -> str:
        """The sentence as ranked: with the sentence it points back to, if any."""
        return f"{self.context} {self.text}" if self.context else self.text


@dataclass(frozen=True)
class RankedEvidence:
    sentences: list[EvidenceSentence]  # best first
    coverage: float  # idf-weighted share of the question's terms that the best three state
    unknown_names: list[str]  # names the question gives that no candidate passage holds


def rank_evidence(question: str, passages: list[Passage], embedder: Embedder) -> RankedEvidence:
    """The candidate sentences of `passages` (distinct, of some length), best first."""
    candidates = _candidates(passages)
    unknown = unknown_names(question, passages)
    if not candidates:
        return RankedEvidence([], 0.0, unknown)
    asked = question_terms(question)
    terms = [content_terms(candidate.read) for candidate in candidates]
    idf = _idf(terms)
    lexical = [_term_coverage(asked, set(sentence), idf, len(terms)) for sentence in terms]
    embedded = _worth_embedding(candidates, lexical)
    vectors = embedder.embed_cached([candidates[index].read for index in embedded])
    similarities = vectors @ embedder.embed_cached([question])[0]  # (embedded,)
    best_lexical = max(lexical) or 1.0
    wants_figure, wants_year = (
        bool(_ASKS_FIGURE.search(question)),
        bool(_ASKS_YEAR.search(question)),
    )
    ranked = []
    for index, similarity in zip(embedded, similarities, strict=True):
        candidate = candidates[index]
        score = (
            float(similarity)
            + LEXICAL_WEIGHT * lexical[index] / best_lexical
            + PASSAGE_WEIGHT / candidate.passage.rank
            + TYPE_BONUS * _states_asked_type(candidate.read, wants_figure, wants_year)
            - NOT_EVIDENCE_PENALTY * _is_not_evidence(candidate.text, wants_figure)
        )
        ranked.append(replace(candidate, score=score, similarity=float(similarity)))
    ranked.sort(key=lambda sentence: sentence.score, reverse=True)
    stated = {term for sentence in ranked[:3] for term in content_terms(sentence.read)}
    coverage = _term_coverage(asked, stated, idf, len(candidates))
    return RankedEvidence(ranked, coverage, unknown)


def unknown_names(question: str, passages: list[Passage]) -> list[str]:
    """The names in the question (GPU, Nougat) that none of the passages holds: the passages
    cannot answer a question about something they never name."""
    return [
        name
        for name in question_names(question)
        if not any(names_in(name, passage.text) for passage in passages)
    ]


def _candidates(passages: list[Passage]) -> list[EvidenceSentence]:
    """Each distinct sentence, unscored, from the best passage holding it; one that points back
    carries the sentence before it on its page as context."""
    seen: set[tuple[int, str]] = set()
    candidates = []
    for passage in sorted(passages, key=lambda passage: passage.rank):
        previous: tuple[int, str] | None = None
        for page, text in sentences_with_pages(passage):
            points_back = previous and previous[0] == page and _POINTS_BACK.match(text)
            context = previous[1] if previous and points_back else ""
            previous = (page, text)
            key = (passage.document_id, text)
            if len(text.split()) >= MIN_WORDS and key not in seen:
                seen.add(key)
                candidates.append(EvidenceSentence(passage, page, text, 0.0, 0.0, context))
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


def _worth_embedding(candidates: list[EvidenceSentence], lexical: list[float]) -> list[int]:
    """Indexes of the candidates to embed: those of the best passages, then the lexically best,
    up to EMBEDDED_CANDIDATES (embedding every sentence of a dozen passages costs seconds)."""
    top = [i for i, candidate in enumerate(candidates) if candidate.passage.rank <= TOP_PASSAGES]
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
    """A reference entry, an acknowledgement or author credit, a title with its author list or
    a heading (most words capitalised), or (unless the question asks for a figure, which tables
    hold) a table row."""
    tokens = text.split()
    numeric = sum(bool(_NUMERIC_TOKEN.match(token)) for token in tokens)
    capitalised = sum(token[:1].isupper() for token in tokens)
    return (
        bool(_REFERENCE_ENTRY.search(text))
        or bool(_CREDITS.search(text))
        or capitalised > CAPITALISED_SHARE * len(tokens)
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
                text="\n".join(_with_context(sentences)),
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


def _with_context(sentences: list[EvidenceSentence]) -> list[str]:
    """The sentences in order, each that points back after the sentence it points to."""
    lines = [line for s in sentences for line in (s.context, s.text) if line]
    return list(dict.fromkeys(lines))


def _position(sentence: EvidenceSentence) -> int:
    return sentence.passage.text.find(sentence.text[:20])
