import pytest

from ingest.chunking import chunk_pages
from ingest.clean import clean_pages
from rag.citations import (
    CheckedAnswer,
    Citation,
    CitationChecker,
    marker_numbers,
    renumbered,
    restates,
    strip_markers,
    unsupported_parts,
)
from rag.embedder import Embedder
from rag.retrieve import Passage


def passage(document_id: int, text: str, page_start: int = 1, page_end: int = 1) -> Passage:
    return Passage(
        rank=1, score=1.0, similarity=0.5, chunk_id=document_id * 10, document_id=document_id,
        ordinal=0, filename=f"doc{document_id}.pdf", title=f"Document {document_id}",
        page_start=page_start, page_end=page_end, text=text,
    )  # fmt: skip


SOURCES = [
    passage(
        1,
        "Glaciers carve U-shaped valleys as they move downhill.\f"
        "The Rhone glacier has retreated by more than a kilometre since 1850.",
        page_start=4,
        page_end=5,
    ),
    passage(2, "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen."),
]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("a [1] b [2, 3] c [4-6]", [1, 2, 3, 4, 5, 6]), ("none", []), ("[2]\u2013[3]", [2, 3])],
)
def test_marker_numbers(text: str, numbers: list[int]) -> None:
    assert marker_numbers(text) == numbers


def test_strip_markers() -> None:
    assert strip_markers("Glaciers retreat [1][2].") == "Glaciers retreat."


def test_a_marker_maps_to_the_supporting_sentence_and_its_exact_page(embedder: Embedder) -> None:
    checked = CitationChecker(embedder, SOURCES).check(
        "The Rhone glacier has shrunk by over a kilometre since 1850 [1]."
    )
    [citation] = checked.citations
    assert (citation.n, citation.document_id, citation.page) == (1, 1, 5)
    assert citation.quote == "The Rhone glacier has retreated by more than a kilometre since 1850."
    assert checked.unsupported == []


def test_a_quote_after_pages_without_text_is_cited_on_its_own_page(embedder: Embedder) -> None:
    pages = ["Ice sheets store most of the fresh water on Earth.", "7", "", "The Rhone glacier has "
             "retreated by more than a kilometre since 1850."]  # fmt: skip
    [chunk] = chunk_pages(clean_pages(pages), embedder.count_tokens, 200, 0)
    source = passage(1, chunk.text, chunk.page_start, chunk.page_end)

    checked = CitationChecker(embedder, [source]).check("The Rhone glacier retreated [1].")

    assert [(citation.page, citation.quote[:20]) for citation in checked.citations] == [
        (4, "The Rhone glacier ha")
    ]


@pytest.mark.parametrize(
    ("before_break", "after_break", "page"),
    [
        ("Other tasks that leverage citation contexts include classifying", "citation intent.", 7),
        ("Other tasks include", "classifying citation intent from the contexts of citations.", 8),
    ],
)
def test_a_sentence_a_page_break_cuts_is_quoted_whole_from_the_page_holding_more_of_it(
    embedder: Embedder, before_break: str, after_break: str, page: int
) -> None:
    text = f"Citation contexts help many tasks. {before_break}\f{after_break} Then the corpus grew."
    checker = CitationChecker(embedder, [passage(1, text, page_start=7, page_end=8)])

    checked = checker.check("Citation contexts are used for classifying citation intent [1].")

    assert [(citation.page, citation.quote) for citation in checked.citations] == [
        (page, f"{before_break} {after_break}")
    ]
    assert checker.sentences[-1].page == 8


def test_a_claim_whose_figures_its_source_does_not_state_is_unsupported(
    embedder: Embedder,
) -> None:
    sources = [
        *SOURCES,
        passage(3, "8 Conclusion\nWe introduce a corpus of 81.1M academic papers in many fields."),
    ]
    checker = CitationChecker(embedder, sources)

    wrong_year = checker.check("The Rhone glacier has retreated by a kilometre since 1920 [1].")
    heading_number = checker.check("The corpus contains 8 papers [3].")
    right = checker.check("The corpus holds 81.1M academic papers [3].")

    for checked in (wrong_year, heading_number):
        assert checked.citations == [] and len(checked.unsupported) == 1
        assert "[" not in checked.text
    assert [citation.n for citation in right.citations] == [3]
    assert right.unsupported == []


def test_a_figure_at_another_scale_is_not_the_sources_figure(embedder: Embedder) -> None:
    source = passage(1, "We introduce S2ORC, a corpus of 81.1M academic papers in many fields.")
    checker = CitationChecker(embedder, [source])

    billions = checker.check("S2ORC holds 81.1 billion academic papers [1].")
    millions = checker.check("S2ORC holds 81.1 million academic papers [1].")

    assert billions.citations == [] and len(billions.unsupported) == 1
    assert [citation.n for citation in millions.citations] == [1]


def test_the_quote_of_a_claim_with_a_figure_is_the_sentence_stating_it(embedder: Embedder) -> None:
    full_text = "We identify 8.1M open access papers and provide full text for all of them."
    latex = "Of these papers, 1.5M also come with their LaTeX source."
    checker = CitationChecker(embedder, [passage(1, f"{full_text} {latex}")])

    checked = checker.check("The corpus provides full text for 1.5M open access papers [1].")

    assert [citation.quote for citation in checked.citations] == [latex]


def test_a_sentence_of_two_overlapping_passages_is_cited_as_the_first_ones(
    embedder: Embedder,
) -> None:
    shared = "Many a family paid thirteen dollars for a barrel of flour that winter."
    sources = [
        passage(1, f"The siege cut the city off from the river. {shared}"),
        passage(1, f"{shared} Mule meat was sold in the market."),
    ]
    checker = CitationChecker(embedder, sources)

    checked = checker.check("A family paid thirteen dollars for a barrel of flour [2].")

    assert [(citation.n, citation.quote) for citation in checked.citations] == [(1, shared)]
    assert checked.text.endswith("[1]")
    evidence = checker.evidence("What did a barrel of flour cost a family?")
    assert [(citation.n, citation.quote) for citation in evidence].count((1, shared)) == 1
    assert [citation.quote for citation in evidence].count(shared) == 1


def test_a_quote_is_a_sentence_not_a_heading(embedder: Embedder) -> None:
    text = "6 Applications of S2ORC\nThe size of S2ORC makes it useful for pretraining models."
    checked = CitationChecker(embedder, [passage(1, text)]).check("Applications of S2ORC [1].")
    assert [citation.quote for citation in checked.citations] == [
        "The size of S2ORC makes it useful for pretraining models."
    ]


def test_markers_that_point_nowhere_are_dropped_and_the_claim_rechecked(
    embedder: Embedder,
) -> None:
    checked = CitationChecker(embedder, SOURCES).check(
        "Plants make glucose and oxygen from light, water and carbon dioxide [7]."
    )
    assert "[7]" not in checked.text and checked.text.endswith("[2]")
    assert [citation.n for citation in checked.citations] == [2]


def test_unmarked_claims_get_their_source_or_are_reported_unsupported(
    embedder: Embedder,
) -> None:
    checked = CitationChecker(embedder, SOURCES).check(
        "Glaciers carve U-shaped valleys. The stock market fell sharply on Tuesday."
    )
    assert [(c.n, c.page) for c in checked.citations] == [(1, 4)]
    assert checked.unsupported == ["The stock market fell sharply on Tuesday."]
    assert checked.text == (
        "Glaciers carve U-shaped valleys. [1] The stock market fell sharply on Tuesday."
    )


def test_evidence_is_the_source_sentence_that_answers_the_question(embedder: Embedder) -> None:
    evidence = CitationChecker(embedder, SOURCES).evidence(
        "How far has the Rhone glacier retreated?"
    )
    assert evidence[0].quote.startswith("The Rhone glacier has retreated")
    assert (evidence[0].n, evidence[0].page) == (1, 5)
    assert len(evidence) <= 3


GLUCOSE = "Plants make glucose from light. [2]"
GLACIERS = "Glaciers carve valleys. [1]"


@pytest.mark.parametrize(
    ("generated", "text", "cited"),
    [
        ("Plants make glucose from light.", "Plants make glucose from light. [2]", [2]),  # none
        ("Plants make glucose from light [3].", "Plants make glucose from light. [2]", [2]),
        ("Plants make glu[2]cose from light.", "Plants make glucose from light. [2]", [2]),
        ("Plants make glucose [2][2] from light [2].", "Plants make glucose from light. [2]", [2]),
        ("Glaciers carve valleys [1, 2].", "Glaciers carve valleys. [1] [2]", [1, 2]),
        # Markers after the full stop cite the sentence before them.
        (f"{GLACIERS} {GLUCOSE}", f"{GLACIERS} {GLUCOSE}", [1, 2]),
        ("Plants make glucose from light. [2][2]", GLUCOSE, [2]),
        ("Plants, e.g. [2] Oaks, make glucose.", "Plants, e.g. Oaks, make glucose. [2]", [2]),
        # List and section numbers, and a source's title as a heading, are no claims.
        ("1. Plants make glucose from light. 2. 5.1.1.", GLUCOSE, [2]),
        ("Document 1, [1]\nPlants make glucose from light.", GLUCOSE, [2]),
        ("Document 2\nPlants make glucose from light.\nDocument", GLUCOSE, [2]),
        # Nor is a sentence that stops short.
        ("The source is. [1] Plants make glucose from light.", GLUCOSE, [2]),
        ("Plants make glucose from the. [2]", "", []),
        # Nor one about the prompt's sources, though it repeats a source's words.
        ("The source [2] is about plants that make glucose from light. " + GLUCOSE, GLUCOSE, [2]),
        ("The sources are: plants make glucose. Plants make glucose from light.", GLUCOSE, [2]),
    ],
)
def test_crafted_generator_outputs(
    embedder: Embedder, generated: str, text: str, cited: list[int]
) -> None:
    checked = CitationChecker(embedder, SOURCES).check(generated)
    assert checked.text == text
    assert checked.unsupported == []
    assert sorted({citation.n for citation in checked.citations}) == cited


def test_sources_are_renumbered_in_the_order_the_reader_meets_them() -> None:
    def cited(n: int, quote: str) -> Citation:
        return Citation(n, n, f"doc{n}.pdf", f"Document {n}", 1, quote)

    answer = CheckedAnswer(
        "Plants make glucose. [4] Glaciers carve valleys. [2] [4]",
        [cited(4, "Photosynthesis makes glucose."), cited(2, "Glaciers carve valleys.")],
        ["An unsupported claim."],
    )
    shown, evidence = renumbered(answer, [cited(2, "Glaciers move."), cited(5, "Ice melts.")])
    assert shown.text == "Plants make glucose. [1] Glaciers carve valleys. [2] [1]"
    assert [(c.n, c.filename) for c in shown.citations] == [(1, "doc4.pdf"), (2, "doc2.pdf")]
    assert [(c.n, c.filename) for c in evidence] == [(2, "doc2.pdf"), (3, "doc5.pdf")]
    assert shown.unsupported == ["An unsupported claim."]


def test_unsupported_claims_are_cut_out_where_they_stand_and_the_rest_is_kept() -> None:
    text = "Glaciers carve valleys [1], which is new. Ice is hot. Which is new."
    parts = unsupported_parts(text, ["which is new.", "Ice is hot.", "not in the text"])

    assert "".join(part for part, _ in parts) == text
    assert parts == [
        ("Glaciers carve valleys [1], ", True),
        ("which is new.", False),
        (" ", True),
        ("Ice is hot.", False),
        (" Which is new.", True),
    ]
    assert unsupported_parts("All supported [1].", []) == [("All supported [1].", True)]


def test_a_claim_citing_the_wrong_source_cites_the_one_that_states_it(
    embedder: Embedder,
) -> None:
    sources = [
        passage(1, "We introduce a corpus of academic papers from many disciplines.", 1, 1),
        passage(2, "Subsequently, 95.5M paper clusters are filtered out and removed.", 4, 4),
    ]
    checker = CitationChecker(embedder, sources)

    moved = checker.check("95.5M paper clusters are filtered out [1].")
    kept = checker.check("The corpus holds academic papers from many disciplines [1].")

    assert [(c.n, c.page) for c in moved.citations] == [(2, 4)]
    assert moved.text == "95.5M paper clusters are filtered out. [2]" and not moved.unsupported
    assert [(c.n, c.page) for c in kept.citations] == [(1, 1)]


def test_a_claim_that_says_the_question_back_states_nothing(embedder: Embedder) -> None:
    checker = CitationChecker(embedder, SOURCES)
    question = "What do plants make from light?"

    said_back = checker.check("Plants make light. [2] Plants make glucose from light.", question)
    assert said_back.text == GLUCOSE
    assert checker.check("From light, plants make. [2]", question).text == ""
    # A list's one-word item may be named in the question.
    assert checker.check("Plants [2]. Glucose [2].", question).text == "Plants. [2] Glucose. [2]"
    # A yes, a no, a negation or a figure answers, even in the question's words.
    for answer in ("No, plants do not make light. [2]", "Plants make light 12 hours a day [2]."):
        assert checker.check(answer, question).text != ""
    # A figure the question names is no answer of the claim's own ("COVID-19").
    covid = "Which COVID-19 dataset was built with the S2ORC pipeline?"
    assert restates("The COVID-19 dataset was built with the S2ORC pipeline.", covid)
    assert not restates("The CORD-19 dataset was built with the S2ORC pipeline.", covid)
    # Without the question every sentence is checked as before.
    assert checker.check("Plants make light. [2]").text == "Plants make light. [2]"


def test_a_name_no_cited_source_gives_is_not_supported(embedder: Embedder) -> None:
    source = Passage(
        rank=1, score=1.0, similarity=0.5, chunk_id=10, document_id=1, ordinal=0,
        filename="s2orc.pdf", title="S2ORC: The Semantic Scholar Open Research Corpus",
        page_start=2, page_end=2,
        text="Citations are linked to 81.1M paper nodes derived from Semantic Scholar. "
        "Grobid parses each of the PDFs.",
    )  # fmt: skip
    checker = CitationChecker(embedder, [source])

    invented = checker.check("S2ORC links 81.1M paper nodes derived from SciBERT [1].")
    assert invented.citations == [] and len(invented.unsupported) == 1
    # Named by the source in another case or number, by its title, or by the question: stated.
    stated = checker.check("S2ORC links 81.1M paper nodes derived from Semantic Scholar [1].")
    assert [citation.n for citation in stated.citations] == [1]
    assert checker.check("GROBID parses each PDF [1].").citations
    asked = checker.check(
        "The PDFs are parsed by Grobid for CoreRecipe [1].", "What parses PDFs for CoreRecipe?"
    )
    assert asked.citations and not asked.unsupported
