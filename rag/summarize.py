"""Structured paper summaries with page references, for documents of any length.

Map: the document's chunks, its reference list left out, are grouped into windows that fit the
model, and the model writes a few key sentences for each window (windows are generated
together, in batches). Check: a sentence that closely restates a sentence of the document keeps
its words and takes that sentence's page; one that only loosely rests on it is replaced by the
document's own sentence (small models drift); the rest are dropped.
Reduce: points are sorted into sections by similarity to each section's description, among
the sections whose needs they meet (`rag.section_needs`: a result names a measure or a
comparison, a limitation a weakness; no section takes a question, a caption or a table's run),
and the model writes a one-line TL;DR from the best of them. A paper with an abstract is summed
up in its own words first (`rag.abstract`): its statement of contribution is the TL;DR, and its
other sentences lead the sections they fit. A section the model left empty, or one with needs
that holds fewer than three points, gets the document's own sentences that fit it best and meet
its needs, if any do (a paper states its limitations once, in their own section, which the
model's points from a window rarely name). No point says the TL;DR again; every point carries
its page, without the footnote numbers and headings that the PDF glued to it.
"""

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from model import Generator, SamplingParams
from rag.abstract import CONTRIBUTION, abstract_sentences, contribution_index
from rag.citations import (
    EVIDENCE_MIN_SIMILARITY,
    SUPPORT_SIMILARITY,
    Citation,
    CitationChecker,
    states_figures_of,
    states_words_of,
)
from rag.embedder import Embedder
from rag.prompt import Message
from rag.retrieve import Passage
from rag.section_needs import SECTION_NEEDS, SECTIONS, meets, plain_sentence
from rag.sentences import ends_sentence, split_sentences
from rag.store import StoredSummary

POINTS_PER_SECTION = 3
EXTRACTED_POINTS = 2  # the document's sentences added to a section with needs
# A sentence that says what its section needs may fit the section's description less closely:
# "At the end of the day, the Transformer-based models performed better at this task than
# Grobid." is 0.26 from the description of results.
NEEDS_MIN_SIMILARITY = 0.2
WINDOW_TOKENS = 1000  # document text per map prompt
BATCH = 4  # windows generated together
MAP_NEW_TOKENS = 96
DUPLICATE_SIMILARITY = 0.9
RESTATES_SIMILARITY = 0.75  # the model's sentence is kept; below, the document's is used
# A reference list ("Lo, K. 2020. S2ORC. In ACL.") is no part of a summary: its entries end
# with a year and a period about twice in 100 words, where the paper's prose has none.
BIBLIOGRAPHY_YEARS = 2
BIBLIOGRAPHY_YEARS_PER_WORD = 0.01
_ENTRY_YEAR = re.compile(r"\b(?:19|20)\d\d[a-z]?\.(?:\s|$)")
_LEAD_IN = re.compile(r"^the (?:three )?most important findings or claims[^:]*:\s*", re.IGNORECASE)
_BULLETS = "-*\u2022 0123456789.)"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SummaryPoint:
    text: str
    pages: list[int]


@dataclass(frozen=True)
class SummarySection:
    heading: str
    points: list[SummaryPoint]


@dataclass(frozen=True)
class Summary:
    document_id: int
    tldr: str
    tldr_pages: list[int]
    sections: list[SummarySection]

    def to_json(self) -> dict[str, object]:
        return {
            "document_id": self.document_id,
            "tldr": self.tldr,
            "tldr_pages": self.tldr_pages,
            "sections": [asdict(section) for section in self.sections],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Summary":
        sections = [
            SummarySection(s["heading"], [SummaryPoint(**p) for p in s["points"]])
            for s in data["sections"]
        ]
        return cls(data["document_id"], data["tldr"], data["tldr_pages"], sections)


def stored_summary(session: Session, document_id: int, generator: str) -> Summary | None:
    row = session.scalar(
        select(StoredSummary)
        .where(StoredSummary.document_id == document_id, StoredSummary.generator == generator)
        .order_by(StoredSummary.id.desc())
    )
    return Summary.from_json(json.loads(row.content)) if row else None


def store_summary(session: Session, summary: Summary, generator: str) -> None:
    session.add(
        StoredSummary(
            document_id=summary.document_id,
            generator=generator,
            content=json.dumps(summary.to_json()),
        )
    )


class Summarizer:
    def __init__(self, generator: Generator, embedder: Embedder) -> None:
        self.generator = generator
        self.embedder = embedder

    def summarize(
        self, document_id: int, title: str, passages: list[Passage], progress: Progress | None
    ) -> Summary:
        """Summarize a document given as its passages (chunks) in reading order."""
        passages = without_references(passages)
        checker = CitationChecker(self.embedder, passages)
        points = self._map(title, passages, checker, progress)
        # A paper's abstract is its own summary, word for word: its statement of contribution
        # is the TL;DR, the sentences before it state the problem, and the rest lead the
        # sections they fit.
        abstract = [SummaryPoint(text, [page]) for page, text in abstract_sentences(passages)]
        contribution, problem = None, 0
        if abstract:
            problem = contribution_index([point.text for point in abstract], self.embedder)
            contribution = abstract.pop(problem)
        sections = self._sections(abstract, problem, points, checker)
        if contribution:
            tldr, tldr_pages = contribution.text, contribution.pages
        else:
            best = [point for section in sections for point in section.points[:1]]
            tldr, tldr_pages = self._tldr(title, best, checker)
        sections = self._without_repeats_of(tldr, sections)
        return _readable(Summary(document_id, tldr, tldr_pages, sections))

    def _without_repeats_of(
        self, tldr: str, sections: list[SummarySection]
    ) -> list[SummarySection]:
        """The sections without points that say the TL;DR again."""
        points = [point.text for section in sections for point in section.points]
        if not points:
            return sections
        vectors = self.embedder.embed([tldr, *points])  # (1 + points, dim)
        repeats = {
            text
            for text, score in zip(points, vectors[1:] @ vectors[0], strict=True)
            if score >= DUPLICATE_SIMILARITY
        }
        return [
            SummarySection(s.heading, [p for p in s.points if p.text not in repeats])
            for s in sections
        ]

    def _map(
        self,
        title: str,
        passages: list[Passage],
        checker: CitationChecker,
        progress: Progress | None,
    ) -> list[SummaryPoint]:
        windows = self._windows(passages)
        params = SamplingParams(max_new_tokens=MAP_NEW_TOKENS)
        batches = [windows[start : start + BATCH] for start in range(0, len(windows), BATCH)]
        # Progress counts decode steps, MAP_NEW_TOKENS a batch: a batch takes a while.
        total = len(batches) * MAP_NEW_TOKENS
        points: list[SummaryPoint] = []
        for index, batch in enumerate(batches):
            prompts = [self.generator.chat_prompt(_map_messages(title, w)) for w in batch]
            on_step = _steps_of(progress, index * MAP_NEW_TOKENS, total) if progress else None
            completions = self.generator.generate_batch(prompts, params, on_step)
            points += self._checked([completion.text for completion in completions], checker)
            if progress:
                progress("summarize", (index + 1) * MAP_NEW_TOKENS, total)
        return points

    def _windows(self, passages: list[Passage]) -> list[list[Passage]]:
        windows: list[list[Passage]] = [[]]
        filled = 0
        for passage in passages:
            tokens = self.generator.count_tokens(passage.text)
            if windows[-1] and filled + tokens > WINDOW_TOKENS:
                windows.append([])
                filled = 0
            windows[-1].append(passage)
            filled += tokens
        return [window for window in windows if window]

    def _checked(self, texts: list[str], checker: CitationChecker) -> list[SummaryPoint]:
        """The generated sentences that rest on the document, each with its page."""
        sentences = [
            sentence
            for text in texts
            for line in text.splitlines()
            for sentence in split_sentences(_LEAD_IN.sub("", line.strip()).lstrip(_BULLETS))
        ]
        points = []
        for sentence, support in zip(sentences, checker.support(sentences), strict=True):
            point = _grounded(sentence, *support)
            if point is not None and len(point.text.split()) >= 5:
                points.append(point)
        return points

    def _sections(
        self,
        leading: list[SummaryPoint],
        problem: int,
        generated: list[SummaryPoint],
        checker: CitationChecker,
    ) -> list[SummarySection]:
        """Each point in the section it fits best of those whose needs it meets
        (`SECTION_NEEDS`), best first; the `leading` points (the abstract's) before the
        generated ones, in their order, and the first `problem` of them in the problem's
        section."""
        points = [*leading, *generated]
        descriptions = self.embedder.embed(list(SECTIONS.values()))  # (sections, dim)
        vectors = self.embedder.embed([p.text for p in points]) if points else np.zeros((0, 1))
        scores = vectors @ descriptions.T if points else np.zeros((0, len(SECTIONS)))
        scores[:problem] = np.eye(len(SECTIONS))[list(SECTIONS).index("Problem")]
        allowed = np.array([[meets(heading, p.text) for heading in SECTIONS] for p in points])
        scores = np.where(allowed.reshape(scores.shape), scores, -np.inf)
        # scores: (points, sections); each point goes to the section it fits best
        chosen: list[list[int]] = []
        for index in range(len(SECTIONS)):
            mine = [
                p
                for p in np.argsort(-scores[:, index])
                if scores[p].argmax() == index and np.isfinite(scores[p, index])
            ]
            mine.sort(key=lambda p: (p >= len(leading), p if p < len(leading) else 0))
            chosen.append(_distinct(mine, vectors)[:POINTS_PER_SECTION])
        for index in range(len(SECTIONS)):
            if not chosen[index]:  # borrow the best point that is no section's first
                firsts = {positions[0] for positions in chosen if positions}
                borrowed = [
                    p
                    for p in np.argsort(-scores[:, index])
                    if p not in firsts and np.isfinite(scores[p, index])
                ][:1]
                chosen = [[p for p in positions if p not in borrowed] for positions in chosen]
                chosen[index] = borrowed
        sections = []
        used = {points[position].text for positions in chosen for position in positions}
        for index, heading in enumerate(SECTIONS):
            section_points = [points[position] for position in chosen[index]]
            if not section_points or heading in SECTION_NEEDS:
                extracted = self._extracted(checker, heading, section_points, used)
                used |= {point.text for point in extracted}
                section_points += extracted
            sections.append(SummarySection(heading, section_points))
        return sections

    def _extracted(
        self, checker: CitationChecker, heading: str, held: list[SummaryPoint], used: set[str]
    ) -> list[SummaryPoint]:
        """Up to `EXTRACTED_POINTS` sentences of the document for a section (`_extract`) that
        no section shows yet, where it holds fewer points: the model's points from a window
        rarely name a limitation, which a paper states once, in its own section."""
        room = min(POINTS_PER_SECTION - len(held), EXTRACTED_POINTS)
        if room <= 0:
            return []
        found = self._extract(checker, SECTIONS[heading], heading, limit=POINTS_PER_SECTION)
        return [point for point in found if point.text not in used][:room]

    def _extract(
        self, checker: CitationChecker, description: str, heading: str = "", limit: int = 1
    ) -> list[SummaryPoint]:
        """The document's own sentences that fit a description best and meet its section's
        needs, if any fit at all; those that start as a sentence does (a capital or a digit)
        before fragments of one."""
        floor = NEEDS_MIN_SIMILARITY if heading in SECTION_NEEDS else EVIDENCE_MIN_SIMILARITY
        found = checker.evidence(
            description, POINTS_PER_SECTION, lambda text: meets(heading, text), floor
        )
        found.sort(key=lambda citation: not _starts_a_sentence(citation.quote))  # stable
        return [SummaryPoint(citation.quote, [citation.page]) for citation in found[:limit]]

    def _tldr(
        self, title: str, points: list[SummaryPoint], checker: CitationChecker
    ) -> tuple[str, list[int]]:
        listed = "\n".join(f"- {point.text}" for point in points)
        messages: list[Message] = [
            {"role": "system", "content": "You write one-sentence summaries of papers."},
            {
                "role": "user",
                "content": f'Key points of the paper "{title}":\n{listed}\n\n'
                "In one sentence, what does this paper contribute?",
            },
        ]
        completion = self.generator.generate(
            self.generator.chat_prompt(messages), SamplingParams(max_new_tokens=64)
        )
        sentences = split_sentences(completion.text.strip())
        tldr = _grounded(sentences[0], *checker.support(sentences[:1])[0]) if sentences else None
        if tldr is None or not meets("TL;DR", tldr.text):
            tldr = next(iter(self._extract(checker, CONTRIBUTION, "TL;DR")), None)
        if tldr is None and points:  # nothing reads as a contribution: the best point
            tldr = points[0]
        if tldr is None:  # nothing fits at all: the document's first sentence
            first = checker.first_sentence()
            return (first.quote, [first.page]) if first else (title, [])
        return tldr.text, tldr.pages


def _readable(summary: Summary) -> Summary:
    """The summary in plain sentences (`plain_sentence`)."""
    sections = [
        SummarySection(
            section.heading, [SummaryPoint(plain_sentence(p.text), p.pages) for p in section.points]
        )
        for section in summary.sections
    ]
    return Summary(summary.document_id, plain_sentence(summary.tldr), summary.tldr_pages, sections)


def _starts_a_sentence(text: str) -> bool:
    return text[:1].isupper() or text[:1].isdigit()


def _distinct(positions: list[int], vectors: np.ndarray) -> list[int]:
    """`positions` in order, without points that repeat an earlier one."""
    kept: list[int] = []
    for position in positions:
        if all(vectors[position] @ vectors[other] < DUPLICATE_SIMILARITY for other in kept):
            kept.append(position)
    return kept


def without_references(passages: list[Passage]) -> list[Passage]:
    """The passages without the reference list: from the first passage that reads as one to the
    last (short passages between them, a name list or one entry, read as nothing)."""
    listed = [index for index, passage in enumerate(passages) if _reads_as_references(passage)]
    if not listed or len(listed) == len(passages):
        return passages
    return passages[: listed[0]] + passages[listed[-1] + 1 :]


def _reads_as_references(passage: Passage) -> bool:
    years = len(_ENTRY_YEAR.findall(passage.text))
    words = len(passage.text.split())
    return years >= BIBLIOGRAPHY_YEARS and years >= BIBLIOGRAPHY_YEARS_PER_WORD * words


def _grounded(sentence: str, citation: Citation | None, similarity: float) -> SummaryPoint | None:
    """The point a generated sentence makes, given the source sentence closest to it: its own
    words where they restate that sentence, figures and content words included (a clause the
    sentence adds, "..., which was a significant change", is in no source) and it ends as a
    sentence does (not "The papermage enables cross-system comparisons,"), else the
    document's."""
    if citation is None or similarity < SUPPORT_SIMILARITY:
        return None
    restates = states_figures_of(sentence, citation.quote) and states_words_of(
        sentence, citation.quote
    )
    if similarity >= RESTATES_SIMILARITY and restates and ends_sentence(sentence):
        return SummaryPoint(sentence, [citation.page])
    return SummaryPoint(citation.quote, [citation.page])


def _steps_of(progress: Progress, before: int, total: int) -> Callable[[int], None]:
    """A batch's `on_step`, reported as the summary's steps so far."""
    return lambda steps: progress("summarize", before + steps, total)


def _map_messages(title: str, window: list[Passage]) -> list[Message]:
    first, last = window[0].page_start, window[-1].page_end
    text = "\n\n".join(" ".join(passage.text.split()) for passage in window)
    return [
        {"role": "system", "content": "You summarize parts of research papers faithfully."},
        {
            "role": "user",
            # Asked for "the problem, the method, results or limitations", the default model
            # wrote those words back as headings in 15 of 20 windows, looping on them.
            "content": f'Text from pages {first}-{last} of the paper "{title}":\n\n{text}\n\n'
            "What are the three most important findings or claims in this text? Answer in three "
            "complete sentences.",
        },
    ]
