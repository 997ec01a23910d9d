"""Structured paper summaries with page references, for documents of any length.

Map: the document's chunks, its reference list left out, are grouped into windows that fit the
model, and the model writes a few key sentences for each window (windows are generated
together, in batches). Check: a sentence that closely restates a sentence of the document keeps
its words and takes that sentence's page; one that only loosely rests on it is replaced by the
document's own sentence (small models drift); the rest are dropped.
Reduce: points are sorted into sections by similarity to each section's description, and the
model writes a one-line TL;DR from the best of them. A paper with an abstract is summed up in
its own words first (`rag.abstract`): its statement of contribution is the TL;DR, and its other
sentences lead the sections they fit. A section the model left empty gets the
document's own sentence that fits it best, if one does; every point carries its page.
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
    SUPPORT_SIMILARITY,
    Citation,
    CitationChecker,
    states_figures_of,
    states_words_of,
)
from rag.embedder import Embedder
from rag.prompt import Message
from rag.retrieve import Passage
from rag.sentences import split_sentences
from rag.store import StoredSummary

SECTIONS = {
    "Problem": "The problem, motivation and goal of this work, and what earlier work lacks.",
    "Method": "The proposed method, approach, system, dataset or toolkit and how it works.",
    "Key results": "The results of the evaluation and experiments, with accuracy and numbers.",
    "Limitations": "The limitations and weaknesses of the work, and future work.",
}
POINTS_PER_SECTION = 3
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
            return Summary(document_id, contribution.text, contribution.pages, sections)
        best = [point for section in sections for point in section.points[:1]]
        tldr, tldr_pages = self._tldr(title, best, checker)
        return Summary(document_id, tldr, tldr_pages, sections)

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
        """Each point in the section it fits best, best first; the `leading` points (the
        abstract's) before the generated ones, in their order, and the first `problem` of them
        in the problem's section."""
        points = [*leading, *generated]
        descriptions = self.embedder.embed(list(SECTIONS.values()))  # (sections, dim)
        vectors = self.embedder.embed([p.text for p in points]) if points else np.zeros((0, 1))
        scores = vectors @ descriptions.T if points else np.zeros((0, len(SECTIONS)))
        scores[:problem] = np.eye(len(SECTIONS))[list(SECTIONS).index("Problem")]
        # scores: (points, sections); each point goes to the section it fits best
        chosen: list[list[int]] = []
        for index in range(len(SECTIONS)):
            mine = [p for p in np.argsort(-scores[:, index]) if scores[p].argmax() == index]
            mine.sort(key=lambda p: (p >= len(leading), p if p < len(leading) else 0))
            chosen.append(_distinct(mine, vectors)[:POINTS_PER_SECTION])
        for index in range(len(SECTIONS)):
            if not chosen[index]:  # borrow the best point that is no section's first
                firsts = {positions[0] for positions in chosen if positions}
                borrowed = [p for p in np.argsort(-scores[:, index]) if p not in firsts][:1]
                chosen = [[p for p in positions if p not in borrowed] for positions in chosen]
                chosen[index] = borrowed
        sections = []
        for index, heading in enumerate(SECTIONS):
            section_points = [points[position] for position in chosen[index]]
            if not section_points:
                extracted = self._extract(checker, SECTIONS[heading])
                section_points = [extracted] if extracted else []
            sections.append(SummarySection(heading, section_points))
        return sections

    def _extract(self, checker: CitationChecker, description: str) -> SummaryPoint | None:
        """The document's own sentence that fits a description best, if any fits at all; one
        that starts as a sentence does (a capital or a digit) before a fragment of one."""
        found = checker.evidence(description, limit=3)
        found.sort(key=lambda citation: not _starts_a_sentence(citation.quote))  # stable
        return SummaryPoint(found[0].quote, [found[0].page]) if found else None

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
        if tldr is None:
            tldr = self._extract(checker, CONTRIBUTION)
        if tldr is None and points:  # nothing reads as a contribution: the best point
            tldr = points[0]
        if tldr is None:  # nothing fits at all: the document's first sentence
            first = checker.first_sentence()
            return (first.quote, [first.page]) if first else (title, [])
        return tldr.text, tldr.pages


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
    sentence adds, "..., which was a significant change", is in no source), else the
    document's."""
    if citation is None or similarity < SUPPORT_SIMILARITY:
        return None
    restates = states_figures_of(sentence, citation.quote) and states_words_of(
        sentence, citation.quote
    )
    if similarity >= RESTATES_SIMILARITY and restates:
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
