"""Citations checked against the sources: markers parsed and mapped to the sentence (and page)
that supports each claim, sentences without a valid marker attached to their best-supporting
source or reported as unsupported, and the evidence sentences that answer the question best."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from rag.embedder import Embedder
from rag.retrieve import Passage
from rag.sentences import PAGE_BREAK, goes_on_over_page, split_sentences
from rag.terms import content_terms, names_in, two_capital_names

if TYPE_CHECKING:  # rag.evidence ranks sentences with this module's helpers
    from rag.evidence import EvidenceSentence

SUPPORT_SIMILARITY = 0.55  # an unmarked sentence this close to a source sentence rests on it
EVIDENCE_MARGIN = 0.12  # evidence sentences score within this of the best one
EVIDENCE_MIN_SIMILARITY = 0.3
EVIDENCE_MIN_WORDS = 6  # headings and fragments are no evidence
CLAUSE_COVERAGE = 0.6  # of a clause's content words that the sources it cites must hold
# A sentence of fewer content words never just says again the question or an earlier sentence.
RESTATED_MIN_TERMS = 3

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[-\u2013,]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(rf"((?:{_MARKER.pattern})+)\s*")
# A figure and its scale: "8.1M", "81.1 million", "42%", "3 per cent"; not the digit of a name
# such as "S2ORC".
_FIGURE = re.compile(
    r"(?<![^\W\d_])(\d+(?:[.,]\d+)*)(?:(?<=\d)([kKMB])\b|\s?(%|per ?cent\b|thousand\b|million\b|"
    r"billion\b|trillion\b|bn\b|mn\b))?"
)
_SCALES = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}
_SCALES |= {"percent": "%", "per cent": "%"}
# Where a sentence's claims part: ", which ...", "; ...", ", while ...", ", but ...".
_CLAUSE_BREAK = re.compile(
    r"(,\s+(?=(?:which|while|whereas|although|though|but|making|meaning)\b)|;\s+|\s+\u2014\s+)"
)
_WORD = re.compile(r"[^\W\d_]{2,}")  # two letters or more: a claim says something in words
# Words no finished sentence ends on: a small model stops short ("The source is. [1]").
_DANGLING = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "of", "to", "for", "with", "by", "from", "and",
    "or",
})  # fmt: skip

# A sentence about the prompt's sources, not the documents: "The source [2] is used for splitting
# pages ...", "The source is a source from the layout structure segment." ("The source code is"
# and "the source of" are about the documents.)
_ABOUT_THE_SOURCES = re.compile(
    r"^\W*(?:the |these |this |each |both |all )?sources?\s+(?:is|are|was|were|says?|states?|"
    r"shows?|contains?|provides?|mentions?|gives?|lists?|cites?)\b",
    re.IGNORECASE,
)

# Words that answer a question by themselves, though they are no content words.
_ANSWERING_WORDS = frozenset({"yes", "no", "not", "never", "none", "neither", "nor", "only"})


@dataclass(frozen=True)
class Citation:
    n: int  # the source's number in the prompt, 1-based
    document_id: int
    filename: str
    title: str
    page: int
    quote: str  # a verbatim sentence of the source

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "document_id": self.document_id,
            "filename": self.filename,
            "title": self.title,
            "page": self.page,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class CheckedAnswer:
    text: str  # markers that point nowhere removed, supported sentences' markers added
    citations: list[Citation]
    unsupported: list[str]


@dataclass(frozen=True)
class _SourceSentence:
    n: int
    passage: Passage
    page: int
    text: str


def marker_numbers(text: str) -> list[int]:
    """[2], [1, 3] and [2-4] style markers, in order of appearance."""
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        for part in re.split(r"\s*,\s*", match.group(1)):
            first, _, last = part.replace("\u2013", "-").partition("-")
            numbers += range(int(first), int(last or first) + 1)
    return numbers


def unsupported_parts(text: str, unsupported: Sequence[str]) -> list[tuple[str, bool]]:
    """An answer's text cut into (part, supported) pieces, in order: each unsupported claim or
    clause where it stands in the text, and the supported text around it."""
    parts: list[tuple[str, bool]] = []
    start = 0
    spans = sorted(
        (found, found + len(claim))
        for claim in dict.fromkeys(unsupported)
        if claim and (found := text.find(claim)) >= 0
    )
    for begin, end in spans:
        if begin < start:  # inside a claim already marked
            continue
        if begin > start:
            parts.append((text[start:begin], True))
        parts.append((text[begin:end], False))
        start = end
    if start < len(text):
        parts.append((text[start:], True))
    return parts


def marked_unsupported(text: str, unsupported: Sequence[str]) -> str:
    """The answer as plain text with each unsupported claim marked where it stands:
    "... [1], [unsupported: which is 1.5M more]"."""
    return "".join(
        part if supported else f"[unsupported: {part.strip()}]" + part[len(part.rstrip()) :]
        for part, supported in unsupported_parts(text, unsupported)
    )


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def sentences_of(paragraph: str) -> list[str]:
    """The paragraph's sentences, a marker written after a full stop ("Glaciers carve valleys.
    [1]") kept with the sentence before it: the splitter starts the next sentence with it."""
    sentences: list[str] = []
    for sentence in split_sentences(paragraph):
        leading = _LEADING_MARKERS.match(sentence)
        if leading and sentences:
            sentences[-1] += f" {leading.group(1).strip()}"
            sentence = sentence[leading.end() :]
        if sentence:
            sentences.append(sentence)
    return sentences


def renumbered(
    answer: CheckedAnswer, evidence: list[Citation]
) -> tuple[CheckedAnswer, list[Citation]]:
    """The answer and its evidence with sources numbered 1, 2, ... in the order the reader
    meets them (the answer's markers, then the evidence), instead of by their places in the
    prompt, where an answer citing sources 2 and 4 would leave the reader looking for [1]."""
    order = [*marker_numbers(answer.text), *(c.n for c in [*answer.citations, *evidence])]
    number = {n: shown for shown, n in enumerate(dict.fromkeys(order), start=1)}
    # `check` writes every marker as the [n] of a source it cites, so each has its number.
    text = re.sub(r"\[(\d+)\]", lambda match: f"[{number[int(match.group(1))]}]", answer.text)
    return (
        CheckedAnswer(
            text,
            [replace(c, n=number[c.n]) for c in answer.citations],
            answer.unsupported,
        ),
        [replace(c, n=number[c.n]) for c in evidence],
    )


class CitationChecker:
    """Checks one answer against the sources it was given, using sentence embeddings."""

    def __init__(self, embedder: Embedder, sources: list[Passage]) -> None:
        self.embedder = embedder
        self.sources = sources
        self.sentences = [
            _SourceSentence(n, passage, page, sentence)
            for n, passage in enumerate(sources, start=1)
            for page, sentence in sentences_with_pages(passage)
        ]
        # Overlapping passages share sentences: a sentence is cited as its first source's.
        self.first_source: dict[tuple[int, str], int] = {}
        for sentence in self.sentences:
            self.first_source.setdefault((sentence.passage.document_id, sentence.text), sentence.n)
        texts = [sentence.text for sentence in self.sentences]
        self.vectors = embedder.embed_cached(texts) if texts else np.zeros((0, embedder.dimension))
        self.titles = {_words(passage.title) for passage in sources if passage.title}

    def evidence(
        self,
        question: str,
        limit: int = 3,
        accept: Callable[[str], bool] | None = None,
        min_similarity: float = EVIDENCE_MIN_SIMILARITY,
    ) -> list[Citation]:
        """Up to `limit` source sentences that answer the question best, best first; only those
        that `accept` takes, if given."""
        candidates = [
            index
            for index, sentence in enumerate(self.sentences)
            if len(sentence.text.split()) >= EVIDENCE_MIN_WORDS
            and (accept is None or accept(sentence.text))
        ]
        if not candidates:
            return []
        scores = self.vectors[candidates] @ self.embedder.embed([question])[0]
        order = np.argsort(-scores)
        floor = max(min_similarity, float(scores[order[0]]) - EVIDENCE_MARGIN)
        found = [
            self._citation(self.sentences[candidates[position]])
            for position in order
            if scores[position] >= floor
        ]
        return list({(c.n, c.quote): c for c in found}.values())[:limit]

    def cite(self, sentences: "Sequence[EvidenceSentence]") -> list[Citation]:
        """Ranked evidence sentences as citations of the sources that hold them (a sentence in
        no source is left out), each quoted with the sentence it points back to, if any."""
        citations = []
        for sentence in sentences:
            n = self.first_source.get((sentence.passage.document_id, sentence.text))
            if n is not None:
                citations.append(_citation(n, sentence.passage, sentence.page, sentence.read))
        return citations

    def first_sentence(self) -> Citation | None:
        """The sources' first sentence, with its page."""
        return self._citation(self.sentences[0]) if self.sentences else None

    def check(self, answer: str, question: str = "") -> CheckedAnswer:
        """The answer's claims with the sources that state them; a sentence that states nothing
        (a heading, a lead-in, the question said back) is left out."""
        sentences = [s for paragraph in answer.split("\n") for s in sentences_of(paragraph)]
        claims = [strip_markers(sentence) for sentence in sentences]
        claim_vectors = self.embedder.embed(claims) if claims else np.zeros((0, 1))
        citations: list[Citation] = []
        unsupported: list[str] = []
        rewritten: list[str] = []
        for sentence, claim, vector in zip(sentences, claims, claim_vectors, strict=True):
            valid = [
                n for n in dict.fromkeys(marker_numbers(sentence)) if 1 <= n <= len(self.sources)
            ]
            if not self._says_something(claim) or restates(claim, question):
                continue
            if not valid and self.sentences:
                scores = self.vectors @ vector
                best = int(np.argmax(scores))
                if scores[best] >= SUPPORT_SIMILARITY:
                    valid = [self.sentences[best].n]
            valid = self._stating(claim, vector, valid)
            parts = re.split(_CLAUSE_BREAK, claim)  # clause, separator, clause, ...
            clauses, separators = parts[::2], [*parts[1::2], ""]
            stated = [
                self._states_clause(clause, valid, len(clauses) > 1, question) for clause in clauses
            ]
            if not any(stated):
                unsupported.append(claim)
            written = []
            for clause, separator, supported in zip(clauses, separators, stated, strict=True):
                cited = [self._best_in(n, vector, clause) for n in valid] if supported else []
                citations += cited
                if not supported and any(stated):
                    unsupported.append(clause)
                numbers = dict.fromkeys(citation.n for citation in cited)
                written.append(clause + "".join(f" [{n}]" for n in numbers) + separator)
            rewritten.append("".join(written))
        unique = list({(c.n, c.quote): c for c in citations}.values())
        return CheckedAnswer(" ".join(rewritten), unique, unsupported)

    def _stating(self, claim: str, vector: np.ndarray, cited: list[int]) -> list[int]:
        """The sources a claim should cite: those it cites where they state it (its figures and
        most of its words); else the source whose sentence states it, the closest such. A small
        model copies a sentence of source 2 and writes [1] after it; the reader should be sent
        to the sentence, and the page, that the claim comes from."""
        if not cited or self._state(claim, cited):
            return cited
        stating = [
            index
            for index, sentence in enumerate(self.sentences)
            if len(sentence.text.split()) >= EVIDENCE_MIN_WORDS
            and states_figures_of(claim, sentence.text)
            and states_words_of(claim, sentence.text)
        ]
        if not stating:
            return cited
        best = max(stating, key=lambda index: float(self.vectors[index] @ vector))
        return [self.sentences[best].n]

    def _state(self, claim: str, cited: list[int]) -> bool:
        """Whether the sources cited state the claim's figures and most of its words."""
        prose = self._prose_of(cited)
        return states_figures_of(claim, prose) and states_words_of(claim, prose)

    def _says_something(self, claim: str) -> bool:
        """Not list or section numbers, stray punctuation, a source's title (or its start),
        which a small model writes as a heading and which states nothing, a sentence that
        stops short ("The source is.") or one about the prompt's sources ("The source is a
        source from the layout structure segment.", accepted on its three source words)."""
        if not _WORD.search(claim) or _ABOUT_THE_SOURCES.match(claim):
            return False
        words = _words(claim)
        if words[-1] in _DANGLING:
            return False
        return not any(title[: len(words)] == words for title in self.titles)

    def _states_clause(
        self, clause: str, cited: list[int], one_of_several: bool, question: str
    ) -> bool:
        """Whether the sources cited state the clause: its figures; the names it gives, which
        the sources, their titles or the question hold ("derived from S2ORC-SciBERT" where the
        source says "derived from Semantic Scholar" is invented); and, for one clause of several
        ("..., which is 1.5M more than ..."), most of its content words, so that an invented
        clause does not ride on a true one's citation."""
        if not cited or not self._states_numbers_of(clause, cited):
            return False
        cited_text = " ".join(s.text for s in self.sentences if s.n in cited)
        titles = " ".join(self.sources[n - 1].title for n in cited)
        if not names_stated(clause, f"{cited_text} {titles} {question}"):
            return False
        return not one_of_several or states_words_of(clause, cited_text)

    def _states_numbers_of(self, claim: str, cited: list[int]) -> bool:
        """Whether every number in the claim appears in the prose of the sources it cites.
        A small model readily misquotes figures, or takes a section number for a count
        ("8 Conclusion" read as "8 papers"), so headings and fragments do not count."""
        return states_figures_of(claim, self._prose_of(cited))

    def _prose_of(self, cited: list[int]) -> str:
        """The sentences of the sources cited, headings and fragments left out."""
        return " ".join(
            sentence.text
            for sentence in self.sentences
            if sentence.n in cited and len(sentence.text.split()) >= EVIDENCE_MIN_WORDS
        )

    def support(self, claims: list[str]) -> list[tuple[Citation | None, float]]:
        """For each claim, the source sentence closest to it and how close it is (cosine
        similarity); the claims are embedded together."""
        if not self.sentences or not claims:
            return [(None, 0.0) for _ in claims]
        scores = self.embedder.embed([strip_markers(claim) for claim in claims]) @ self.vectors.T
        # scores: (claims, source sentences)
        best = scores.argmax(axis=1)
        return [
            (self._citation(self.sentences[index]), float(row[index]))
            for row, index in zip(scores, best, strict=True)
        ]

    def _best_in(self, n: int, vector: np.ndarray, claim: str) -> Citation:
        """The sentence of source n closest to a claim that cites it: among those that state the
        claim's figures where any does (the reader sees the figure's own sentence), and of those
        the ones of some length where there are any (not a heading)."""
        indexes = [index for index, sentence in enumerate(self.sentences) if sentence.n == n]
        if not indexes:
            passage = self.sources[n - 1]
            return _citation(n, passage, passage.page_start, passage.text.strip())
        stating = [i for i in indexes if states_figures_of(claim, self.sentences[i].text)]
        indexes = stating or indexes
        prose = [i for i in indexes if len(self.sentences[i].text.split()) >= EVIDENCE_MIN_WORDS]
        indexes = prose or indexes
        best = indexes[int(np.argmax(self.vectors[indexes] @ vector))]
        return self._citation(self.sentences[best])

    def _citation(self, sentence: _SourceSentence) -> Citation:
        n = self.first_source[(sentence.passage.document_id, sentence.text)]
        return _citation(n, sentence.passage, sentence.page, sentence.text)


def restates(claim: str, question: str) -> bool:
    """Whether the claim only says the question back: all its content words (three or more: a
    one-word item of a list may be named in the question) are the question's, with no figure
    (but the question's: "COVID-19"), yes, no or negation of its own. A small model writes such
    a sentence first ("The researcher keeps her QA retrieval from picking up footnote text."
    asked how she does), or ends with the question's words as its answer ("The library
    papermage uses to rasterize PDF pages is Papermage."), and a source that shares the words
    would seem to support it."""
    terms = set(content_terms(claim))
    if len(terms) < RESTATED_MIN_TERMS or figures_of(claim) - figures_of(question):
        return False
    if _ANSWERING_WORDS.intersection(_words(claim)):
        return False
    return terms <= set(content_terms(question))


def names_stated(claim: str, text: str) -> bool:
    """Whether `text` holds every name the claim gives that has two capitals (SciBERT, GROBID,
    S2ORC, PDFs), in any case."""
    return all(names_in(name, text, any_case=True) for name in two_capital_names(claim))


def states_words_of(clause: str, text: str) -> bool:
    """Whether `text` holds at least CLAUSE_COVERAGE of the clause's content words (stems)."""
    words = set(content_terms(clause))
    return not words or len(words & set(content_terms(text))) >= CLAUSE_COVERAGE * len(words)


def states_figures_of(claim: str, text: str) -> bool:
    """Whether `text` states every figure of `claim` at the same scale: "81.1 billion" is not
    "81.1M". A figure without a scale on either side matches the bare number."""
    stated = figures_of(text)
    return all(
        any(
            number == other and (scale == other_scale or "" in (scale, other_scale))
            for other, other_scale in stated
        )
        for number, scale in figures_of(claim)
    )


def figures_of(text: str) -> set[tuple[str, str]]:
    """(number, scale) of each figure in a text, thousands separators dropped ("1,400" and
    "1400" are one); the scale is "", "%", "thousand", "million", "billion" or "trillion"."""
    figures = set()
    for match in _FIGURE.finditer(text):
        number = re.sub(r",(?=\d{3}\b)", "", match.group(1))
        scale = (match.group(2) or match.group(3) or "").lower()
        figures.add((number, _SCALES.get(scale, scale)))
    return figures


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\w+", text.lower()))


def _citation(n: int, passage: Passage, page: int, quote: str) -> Citation:
    return Citation(n, passage.document_id, passage.filename, passage.title, page, quote)


def sentences_with_pages(passage: Passage) -> list[tuple[int, str]]:
    """The passage's sentences with the page each is on; a sentence that a page break cuts off
    is whole, on the page that holds more of it ("• Size: The resulting S2ORC pretraining cor-"
    / "pus contains 16.4B tokens, ..." is cited where its figure is)."""
    result: list[tuple[int, str]] = []
    for offset, page_text in enumerate(passage.text.split(PAGE_BREAK)):
        page = passage.page_start + offset
        sentences = [s for paragraph in page_text.split("\n") for s in split_sentences(paragraph)]
        before = result[-1] if result and result[-1][0] == page - 1 else None
        if before and sentences and goes_on_over_page(before[1], sentences[0]):
            rest = sentences.pop(0)
            held_by = page if len(rest) > len(before[1]) else page - 1
            result[-1] = (held_by, f"{before[1]} {rest}")
        result += [(page, sentence) for sentence in sentences]
    return result
