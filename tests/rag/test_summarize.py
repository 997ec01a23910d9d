"""Summaries from the real default generator over a real PDF."""

import dataclasses
from pathlib import Path

from sqlalchemy import func, select

from app.service import Scholar
from app.settings import Settings
from ingest.chunking import chunk_pages
from ingest.clean import clean_pages
from rag.citations import CitationChecker
from rag.embedder import Embedder
from rag.retrieve import Passage
from rag.section_needs import SECTION_NEEDS
from rag.store import StoredSummary
from rag.summarize import Summarizer, SummaryPoint, without_references
from tests.conftest import PAPERS, TOPIC_PAGES, PdfMaker, require_shared
from tests.rag.test_citations import passage


def test_a_summary_has_every_section_with_pages_and_is_reused(
    settings: Settings, make_pdf: PdfMaker
) -> None:
    scholar = Scholar(dataclasses.replace(settings, max_new_tokens=48))
    [outcome] = scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)])
    seen: list[tuple[str, int, int]] = []
    summary = scholar.summarize(outcome.document_id, lambda *step: seen.append(step))
    assert [section.heading for section in summary.sections] == [
        "Problem", "Method", "Key results", "Limitations"
    ]  # fmt: skip
    assert summary.tldr and summary.tldr_pages
    assert seen and seen[-1][1] == seen[-1][2]  # progress reached its end
    steps = [done for stage, done, _ in seen if stage == "summarize"]
    assert len(steps) > 2 and steps == sorted(steps)  # moves while the model writes
    points = [point for section in summary.sections for point in section.points]
    assert summary.sections[1].points  # the method: what the pages explain
    for point in points:
        assert point.pages and all(1 <= page <= 4 for page in point.pages)
        assert len(point.text.split()) >= 5
    data = summary.to_json()
    assert set(data) == {"document_id", "tldr", "tldr_pages", "sections"}
    assert set(data["sections"][1]["points"][0]) == {"text", "pages"}

    again = scholar.summarize(outcome.document_id)
    assert again == summary
    with scholar.store.session() as session:
        assert session.scalar(select(func.count(StoredSummary.id))) == 1
    scholar.delete_document(outcome.document_id)
    with scholar.store.session() as session:
        assert session.scalar(select(func.count(StoredSummary.id))) == 0
    scholar.store.dispose()


def _sections_of(texts: list[str], embedder: Embedder) -> dict[str, list[SummaryPoint]]:
    points = [SummaryPoint(text, [page]) for page, text in enumerate(texts, start=1)]
    checker = CitationChecker(embedder, [passage(1, " ".join(texts))])
    sections = Summarizer(None, embedder)._sections([], 0, points, checker)  # type: ignore[arg-type]
    return {section.heading: section.points for section in sections}


def test_a_section_no_point_fits_best_borrows_the_best_spare_point(embedder: Embedder) -> None:
    texts = [
        "We propose a retrieval method that indexes passages with dense vectors.",
        "Our approach trains a small encoder on question and answer pairs.",
        "Our retriever finds the right passage more often than keyword search does.",
        "The encoder cannot read scanned pages, which limits it to born-digital PDFs.",
    ]
    by_heading = _sections_of(texts, embedder)
    assert all(by_heading.values())  # four points, four sections: none is left empty
    used = [point.text for points in by_heading.values() for point in points]
    assert len(used) == len(set(used))  # a borrowed point is not shown twice
    assert [point.text for point in by_heading["Key results"]] == [texts[2]]
    assert [point.text for point in by_heading["Limitations"]] == [texts[3]]


def test_results_and_limitations_hold_only_what_says_so(embedder: Embedder) -> None:
    """The embedder puts a method or a strength nearest the limitations' description; such a
    point stays out of it (and out of the results), which are left empty instead."""
    texts = [
        "We propose a retrieval method that indexes passages with dense vectors.",
        "The toolkit is well suited to citation-based tasks.",
        "Earlier tools often cite the wrong page, which motivates this work.",
        "Table 2: Recall 0.91 0.88 0.75 0.62 for the four systems.",
    ]
    by_heading = _sections_of(texts, embedder)
    assert by_heading["Key results"] == [] and by_heading["Limitations"] == []
    shown = {point.text for points in by_heading.values() for point in points}
    assert texts[3] not in shown  # a caption and its figures are no point


def paper_passages(filename: str, embedder: Embedder, settings: Settings) -> list[Passage]:
    """A shared paper's chunks as passages, as ingestion cuts them."""
    from pypdf import PdfReader

    pdf = require_shared(PAPERS / filename)
    pages = clean_pages([page.extract_text() for page in PdfReader(pdf).pages])
    drafts = chunk_pages(
        pages, embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap
    )
    return [
        dataclasses.replace(passage(1, draft.text), page_start=draft.page_start) for draft in drafts
    ]


def test_the_reference_list_of_a_real_paper_is_left_out_of_its_summary(
    embedder: Embedder, settings: Settings
) -> None:
    passages = paper_passages("s2orc_2020.acl-main.447.pdf", embedder, settings)
    kept = without_references(passages)
    dropped = [p for p in passages if p not in kept]
    assert dropped and all(9 <= p.page_start <= 12 for p in dropped)  # the references' pages
    assert not any("2018. Cad: an algorithm" in p.text for p in kept)  # the first entry
    assert not any("CORD-19: The Covid-19 Open Research Dataset." in p.text for p in kept)
    assert any("This work was supported in part by ONR grant" in p.text for p in kept)  # before
    assert any(p.page_start >= 13 for p in kept)  # the appendix after them stays
    assert without_references(passages[:20]) == passages[:20]  # a body without references


def test_a_paper_is_summed_up_in_its_abstract_first(settings: Settings) -> None:
    scholar = Scholar(settings)
    [outcome] = scholar.ingest([require_shared(PAPERS / "papermage_emnlp2023-demo.pdf")])
    summary = scholar.summarize(outcome.document_id)

    assert (summary.tldr, summary.tldr_pages) == (
        "We introduce papermage, an open-source Python toolkit for analyzing and processing "
        "visually-rich, structured scientific documents.",
        [1],
    )
    # The abstract's sentences before its statement of contribution state the problem.
    problem = summary.sections[0]
    assert problem.heading == "Problem"
    assert problem.points[0].text.startswith("Despite growing interest in applying natural")
    assert problem.points[1].text.startswith("They\u2019re often in difficult-to-use PDF formats")
    points = [point.text for section in summary.sections for point in section.points]
    assert (
        "papermage offers clean and intuitive abstractions for seamlessly representing and "
        "manipulating both textual and visual document elements." in points
    )
    # Its results and limitations say so (a comparison, a weakness), in plain sentences: the
    # PDF glues "Ethical Considerations" to the first sentence under it.
    by_heading = {section.heading: section.points for section in summary.sections}
    for heading in ("Key results", "Limitations"):
        assert by_heading[heading], heading
        assert all(SECTION_NEEDS[heading](point.text) for point in by_heading[heading])
    assert not any(
        text.startswith(("Ethical Considerations", "Misrepresentation")) for text in points
    )
    scholar.store.dispose()


def test_a_lead_in_that_repeats_the_question_is_not_part_of_a_point(embedder: Embedder) -> None:
    source = "We propose a retrieval method that indexes passages with dense vectors."
    checker = CitationChecker(embedder, [passage(1, source)])
    written = f"The three most important findings or claims in this text are: 1) {source}"
    points = Summarizer(None, embedder)._checked([written], checker)  # type: ignore[arg-type]
    assert points == [SummaryPoint(source, [1])]


def test_a_point_restating_its_sentence_with_another_figure_is_given_in_the_documents_words(
    embedder: Embedder,
) -> None:
    source = "S2ORC is a corpus of 81.1M English-language academic papers in many fields."
    checker = CitationChecker(embedder, [passage(1, source)])
    restated = "S2ORC is a corpus of 81.1 million English academic papers in many fields."
    misread = "S2ORC is a corpus of 8.1M English-language academic papers in many fields."
    points = Summarizer(None, embedder)._checked([restated, misread], checker)  # type: ignore[arg-type]
    assert points == [SummaryPoint(restated, [1]), SummaryPoint(source, [1])]


LIGHTHOUSE = """# Keepers of the Northern Light

## History

The Skerryvore lighthouse was completed in 1844 by the engineer Alan Stevenson. Its tower is 48 \
metres tall and built from granite quarried on the island of Tiree.

## The lamp

Originally the lamp burned colza oil, a rapeseed oil. In 1904 it was converted to paraffin \
vapour, and in 1972 to electricity.

## Keepers

Three keepers lived at the light at all times. A fire in 1954 forced them to abandon the tower \
for a while.
"""


def test_a_short_document_that_is_no_paper_gets_a_tldr_from_its_own_sentences(
    settings: Settings, tmp_path: Path
) -> None:
    """No generated sentence rests on it and nothing reads as a contribution (this crashed)."""
    notes = tmp_path / "lighthouse.md"
    notes.write_text(LIGHTHOUSE)
    scholar = Scholar(dataclasses.replace(settings, max_new_tokens=48))
    [outcome] = scholar.ingest([notes])
    summary = scholar.summarize(outcome.document_id)
    assert summary.tldr and summary.tldr_pages == [1]
    assert " ".join(summary.tldr.split()) in " ".join(LIGHTHOUSE.split())
    scholar.store.dispose()
