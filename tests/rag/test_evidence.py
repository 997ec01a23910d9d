from rag.citations import CitationChecker, marked_unsupported
from rag.embedder import Embedder
from rag.evidence import rank_evidence, sentence_sources
from rag.retrieve import Passage


def _passage(rank: int, page: int, text: str, document_id: int = 1) -> Passage:
    return Passage(
        rank, 1.0 / rank, 0.5, rank, document_id, rank, "corpus.pdf", "A Corpus", page, page, text
    )


PASSAGES = [
    _passage(
        1,
        4,
        "Not all papers in the corpus can be found in the citation graph we link against. "
        "We thank the reviewers and the annotators for their helpful comments on this work.",
    ),
    _passage(
        2,
        1,
        "We introduce a large corpus of 81.1M English-language academic papers from many "
        "disciplines. Its full text comes from open-access PDFs and publisher metadata.",
    ),
]


def test_a_how_many_question_gets_the_sentence_stating_the_figure_first(
    embedder: Embedder,
) -> None:
    ranked = rank_evidence("How many papers does the corpus contain?", PASSAGES, embedder)

    assert "81.1M" in ranked.sentences[0].text
    assert ranked.sentences[0].page == 1
    assert all("thank" not in sentence.text for sentence in ranked.sentences[:2])


def test_a_question_about_what_no_source_names_has_low_coverage(embedder: Embedder) -> None:
    answered = rank_evidence("How many papers does the corpus contain?", PASSAGES, embedder)
    unanswered = rank_evidence("Under which license is the GPU cluster rented?", PASSAGES, embedder)

    assert answered.coverage > 0.5
    assert unanswered.coverage < 0.3


def test_sentence_sources_group_the_best_sentences_by_page_and_cite_them(
    embedder: Embedder,
) -> None:
    ranked = rank_evidence("Where does the full text come from?", PASSAGES, embedder)
    sources = sentence_sources(ranked.sentences, 3)

    assert sources[0].page_start == 1
    assert all(source.page_start == source.page_end for source in sources)
    citations = CitationChecker(embedder, sources).cite(ranked.sentences[:2])
    assert [citation.quote for citation in citations] == [s.text for s in ranked.sentences[:2]]
    assert citations[0].n == 1


def test_an_invented_clause_loses_its_citation_and_the_true_one_keeps_it(
    embedder: Embedder,
) -> None:
    checked = CitationChecker(embedder, PASSAGES[1:]).check(
        "The corpus holds 81.1M English-language academic papers [1], which is 1.5M more "
        "than the original dataset."
    )

    assert checked.citations and "81.1M" in checked.citations[0].quote
    assert checked.unsupported == ["which is 1.5M more than the original dataset."]
    assert checked.text.startswith("The corpus holds 81.1M English-language academic papers [1],")
    assert marked_unsupported(checked.text, checked.unsupported) == (
        "The corpus holds 81.1M English-language academic papers [1], "
        "[unsupported: which is 1.5M more than the original dataset.]"
    )
