import pytest

from rag import evidence
from rag.asked import as_asked, asked_type, counted_noun, counted_words, counts
from rag.citations import CitationChecker, marked_unsupported
from rag.embedder import Embedder
from rag.evidence import rank_evidence, unknown_names
from rag.prompt import sentence_sources
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
    answered = rank_evidence("How many papers are in the corpus?", PASSAGES, embedder)
    unanswered = rank_evidence("Under which license is the GPU cluster rented?", PASSAGES, embedder)

    assert answered.coverage > 0.5
    assert unanswered.coverage < 0.3


def test_a_sentence_that_points_back_is_read_with_the_one_before_it(embedder: Embedder) -> None:
    passages = [
        _passage(
            1,
            3,
            "Sentences can cross lines, and lines can cross sentences. As such, sentences and "
            "lines are not strictly nested within each other. This relationship would be "
            "difficult to encode in an XML tree.",
        )
    ]
    ranked = rank_evidence("Why would these layers be hard to encode as XML?", passages, embedder)

    best = ranked.sentences[0]
    assert best.text == "This relationship would be difficult to encode in an XML tree."
    assert best.context == (
        "As such, sentences and lines are not strictly nested within each other."
    )
    [source] = sentence_sources(ranked.sentences, 1)
    assert source.text == f"{best.context}\n{best.text}"  # the prompt shows what it points to
    [citation] = CitationChecker(embedder, [source]).cite([best])  # quoted with what it means
    assert citation.quote == f"{best.context} {best.text}" and citation.page == 3


def test_names_the_question_gives_that_no_passage_holds_are_unknown() -> None:
    passages = [_passage(1, 1, "GrobidCRF reaches 40.6 F1 on author names in PDFs. DEMOCRACY.")]

    assert unknown_names("Does it run on a GPU, with Nougat or OCR?", passages) == [
        "GPU",
        "Nougat",
        "OCR",
    ]
    assert unknown_names("What F1 does the CRF model reach on PDFs?", passages) == []
    assert unknown_names("What does grobidcrf reach?", passages) == []  # no name given


def test_what_a_which_question_asks_for_must_be_named_in_some_form() -> None:
    passages = [_passage(1, 1, "The corpus is licensed for research use. It uses libraries.")]

    assert unknown_names("Under which license is the corpus released?", passages) == []
    assert unknown_names("Which library does it use?", passages) == []  # "librari", "libraries"
    assert unknown_names("What inter-annotator agreement was reached?", passages) == ["agreement"]


def test_sentence_sources_give_each_best_sentence_its_own_source_best_first(
    embedder: Embedder,
) -> None:
    ranked = rank_evidence("Where does the full text come from?", PASSAGES, embedder)
    sources = sentence_sources(ranked.sentences, 3)

    assert [source.text for source in sources] == [s.text for s in ranked.sentences[:3]]
    assert [source.rank for source in sources] == [1, 2, 3]
    assert [source.page_start for source in sources] == [s.page for s in ranked.sentences[:3]]
    assert all(source.page_start == source.page_end for source in sources)
    citations = CitationChecker(embedder, sources).cite(ranked.sentences[:2])
    assert [citation.quote for citation in citations] == [s.text for s in ranked.sentences[:2]]
    assert [citation.n for citation in citations] == [1, 2]


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


def test_a_how_many_question_prefers_the_figure_that_counts_what_it_asks_about(
    embedder: Embedder,
) -> None:
    passages = [
        _passage(
            1,
            4,
            "We filter paper clusters to remove papers with no title, no authors or fewer than "
            "100 characters of text. Subsequently, 95.5M paper clusters are filtered out based "
            "on these criteria.",
        )
    ]
    ranked = rank_evidence(
        "How many paper clusters got dropped by the filters for missing titles?", passages, embedder
    )

    assert counted_noun("How many paper clusters got dropped?") == "cluster"
    assert counted_noun("How many pages per second can it process?") == "page"
    assert counts("Subsequently, 95.5M paper clusters are filtered out.", "cluster")
    assert not counts("See Table 2 for the clusters.", "cluster")
    assert ranked.sentences[0].text.startswith("Subsequently, 95.5M paper clusters")


def test_numbers_that_point_to_a_section_or_a_cited_work_state_no_figure(
    embedder: Embedder,
) -> None:
    pointing = _passage(
        1,
        2,
        "See \u00a72.5 for details on how the Semantic Scholar PDFs are processed. "
        "Around 30.5M of the Semantic Scholar PDFs are selected for processing.",
    )
    cited = _passage(
        2,
        5,
        "The parser for filtered papers was described by Lopez (Lopez, 2009). "
        "On the filtered papers the parser reaches an F1 of 83.2 for titles.",
    )
    how_many = rank_evidence("How many Semantic Scholar PDFs were processed?", [pointing], embedder)
    conditional = rank_evidence(
        "When the papers are filtered, what F1 does the parser reach?", [cited], embedder
    )
    when = rank_evidence("When was the parser described?", [cited], embedder)

    assert "30.5M" in how_many.sentences[0].text
    assert "83.2" in conditional.sentences[0].text  # "When the ..." asks for no year
    assert "2009" in when.sentences[0].text


def test_a_sentence_read_as_anothers_context_is_not_evidence_twice(embedder: Embedder) -> None:
    passages = [
        _passage(
            1,
            8,
            "Papers in the same embedding region share research themes, so citation contexts "
            "capture topics. These paper embeddings can be used to identify similar papers.",
        )
    ]
    ranked = rank_evidence(
        "How are paper embeddings from citation contexts used?", passages, embedder
    )

    reads = [sentence.read for sentence in ranked.sentences]
    assert len(reads) == 1 and reads[0].startswith("Papers in the same embedding region")


def test_a_sentence_read_with_a_context_already_shown_is_not_evidence_twice(
    embedder: Embedder,
) -> None:
    passages = [
        _passage(
            1,
            1,
            "Accordingly a part of the day has been spent in cutting cane and building bunks with "
            "it on the side of the hill. Such improvements protect us better from the sun.",
        )
    ]
    ranked = rank_evidence("What did the soldiers use to build their bunks?", passages, embedder)

    reads = [sentence.read for sentence in ranked.sentences]
    assert reads == [
        "Accordingly a part of the day has been spent in cutting cane and building bunks with "
        "it on the side of the hill."
    ]


def test_what_a_how_many_question_counts_and_the_unit_asked_for_must_be_named() -> None:
    passages = [
        _passage(
            1,
            1,
            "The corpus holds 81.1M papers by many authors, 24 TB in all, with 380.5M citation "
            "links between papers.",
        )
    ]

    assert unknown_names("How many distinct authors are in the corpus?", passages) == ["distinct"]
    assert counted_words("How many people live near it?") == ["people"]
    assert counted_words("How many separate sequence labeling models does it use?")[-1] == "models"
    assert counted_words("How many analysis steps run?") == ["analysis", "steps"]
    # The answer names what the question counts as the reader wrote it.
    question = "How many distinct authors are in the corpus?"
    assert as_asked(question, ["distinct"]) == ["distinct authors"]
    question = "How many paper-to-paper citation links does S2ORC hold on a GPU?"
    assert as_asked(question, ["citation", "GPU", "links"]) == [
        "paper-to-paper citation links",
        "GPU",
    ]
    assert as_asked("Does it run on a GPU?", ["GPU"]) == ["GPU"]
    assert unknown_names("How many authors are in the corpus?", passages) == []
    assert unknown_names("How many paper-to-paper citation links are there?", passages) == []
    assert unknown_names("Of the papers, how many survived the filters?", passages) == []
    # What is counted ends at an article, its noun kept; the words after it say who saw them.
    question = "What is the largest number of citation links the diarist saw at once?"
    assert unknown_names(question, passages) == []
    question = "What is the largest number of citation graphs the diarist saw at once?"
    assert unknown_names(question, passages) == ["graphs"]
    assert unknown_names("What is the size of the corpus in gigabytes?", passages) == ["gigabytes"]


def test_a_measure_no_close_sentence_states_beside_a_figure_is_unmeasured(
    embedder: Embedder,
) -> None:
    prototype = _passage(1, 1, "Our attributed QA prototype answers questions about papers.")
    table = _passage(2, 5, "Model P R F1 GrobidCRF 40.6 38.3 39.1 I-VILA 92.0 94.1 92.7")
    measured = _passage(3, 6, "The attributed QA prototype answers with an accuracy of 0.93.")
    elsewhere = _passage(4, 9, "Table 6: Accuracy of paper clustering 0.93 and linking 0.89.")

    def unmeasured(question: str, passages: list[Passage]) -> str:
        return rank_evidence(question, passages, embedder).unmeasured

    question = "What answer accuracy did the attributed QA prototype achieve?"
    assert unmeasured(question, [prototype, table, measured]) == ""
    assert unmeasured(question, [prototype, table]) == "accuracy"
    # A sentence about another thing states another accuracy.
    assert unmeasured(question, [prototype, table, elsewhere]) == "accuracy"
    assert unmeasured("What F1 does GrobidCRF reach?", [prototype, table]) == ""  # its header
    assert unmeasured("What BLEU score does the QA prototype get?", [prototype, table]) == "BLEU"
    # Only a question that asks for a figure: "Is recall discussed?" asks for none.
    assert unmeasured("Is recall discussed for the QA prototype?", [prototype, table]) == ""


def test_a_how_many_question_whose_thing_no_candidate_counts_is_uncounted(
    embedder: Embedder,
) -> None:
    passages = [
        _passage(
            1, 1, "The corpus took many days to build. Its 380.5M citation links join papers."
        ),
        _passage(2, 3, "Total papers 81.1M. Papers w/ PDF 28.9M (35.6%)."),
    ]

    def uncounted(question: str) -> str:
        return rank_evidence(question, passages, embedder).uncounted

    assert uncounted("How many days did it take to build the corpus?") == "days"
    assert uncounted("How many paper-to-paper citation links are there?") == ""
    assert uncounted("How many papers come with a PDF?") == ""  # a table: "Papers w/ PDF 28.9M"
    assert uncounted("What share of the papers come with a PDF?") == ""  # no "how many"
    assert counts("Papers w/ PDF 28.9M", "paper", either_side=True)
    assert not counts("Papers w/ PDF 28.9M", "paper")
    assert unknown_names("Where do the papers come from in practice?", passages) == []


def test_what_kind_of_figure_a_question_asks_for() -> None:
    assert asked_type("When was the parser described?") == "year"
    assert asked_type("What share of the corpus has an abstract?") == "percent"
    assert asked_type("What macro-averaged F1 does the model reach?") == "figure"
    assert asked_type("What similarity score must the best match beat?") == "figure"
    assert asked_type("What are the limitations of the corpus?") == ""


def test_a_share_is_answered_by_a_percentage_not_by_a_count(embedder: Embedder) -> None:
    passages = [
        _passage(
            1,
            1,
            "The corpus holds abstracts and full text for 8.1M open access papers. "
            "Of all papers, 90.4% have an abstract that the publisher supplies.",
        )
    ]
    ranked = rank_evidence("What share of the corpus has a publisher abstract?", passages, embedder)

    assert "90.4%" in ranked.sentences[0].text


def test_code_the_pdf_spells_letter_by_letter_is_no_evidence(embedder: Embedder) -> None:
    code = (
        "P D F 2 I m a g e R a s t e r i z e r () 10 >>> doc2 = rasterizer . rasterize "
        '( " ... pdf " ) 11 >>> doc . images = doc2 . images 12 >>> doc . images'
    )
    prose = "The toolkit calls pdf2image for this step of its pipeline."
    question = "Which library does the toolkit use to rasterize PDF pages into images?"
    ranked = rank_evidence(question, [_passage(1, 4, f"{prose} {code}")], embedder)

    assert ranked.sentences[0].text == prose


def test_a_question_the_paper_asks_is_no_evidence(embedder: Embedder) -> None:
    asked = "How could researchers use the toolkit to build a question answering system?"
    stated = "Here, a researcher uses the toolkit to prototype an attributed QA system."
    passages = [_passage(1, 6, f"{asked} {stated}")]
    ranked = rank_evidence(
        "What system does the researcher build with the toolkit?", passages, embedder
    )

    assert ranked.sentences[0].text == stated


def test_prose_about_an_arxiv_preprint_is_no_reference_entry(embedder: Embedder) -> None:
    entry = (
        "Kenton Lee and Kristina Toutanova. 2018. Bert: pre-training of deep bidirectional "
        "transformers for language understanding of preprint drafts. arXiv preprint "
        "arXiv:1810.04805."
    )
    prose = "For example, suppose a paper cluster contains both an arXiv preprint and a draft."
    question = "What can go wrong when a paper cluster holds a preprint and a later draft?"
    ranked = rank_evidence(question, [_passage(1, 14, f"{entry} {prose}")], embedder)

    [best, reference] = ranked.sentences
    assert best.text == prose  # its full score: the best words, the first passage, no penalty
    assert best.score == pytest.approx(
        best.similarity + evidence.LEXICAL_WEIGHT + evidence.PASSAGE_WEIGHT
    )
    assert reference.text.endswith("arXiv:1810.04805.")
    assert reference.score < reference.similarity + evidence.LEXICAL_WEIGHT - 0.25  # penalised


def _coverage(question: str, text: str, embedder: Embedder) -> float:
    """How much of the question one passage of `text` covers."""
    return rank_evidence(question, [_passage(1, 1, text)], embedder).coverage


def test_a_figure_the_question_rounds_does_not_count_against_coverage(
    embedder: Embedder,
) -> None:
    text = (
        "There are around 31.3M PDFs linked to the paper clusters. Of these, 30.5M PDFs are "
        "selected for processing by the parsers."
    )
    asked = _coverage("How many of the PDFs were selected for processing?", text, embedder)
    rounded = _coverage(
        "How many of the roughly 31 million PDFs were selected for processing?", text, embedder
    )
    dated = _coverage(
        "How many of the PDFs were selected for processing on 17 June 2019?", text, embedder
    )
    assert rounded == pytest.approx(asked)
    assert dated < asked  # a date the passages never give counts against them


def test_words_asking_for_a_figure_or_naming_the_writer_do_not_count_against_coverage(
    embedder: Embedder,
) -> None:
    text = (
        "The lighted fuse of each shell could be seen as it went up and came down, and "
        "occasionally I have seen as many as three of them in the air at once."
    )
    plain = _coverage("How many lighted shells were in the air at once?", text, embedder)
    asked = _coverage(
        "For the diarist, what is the largest number of lighted shells in the air at once?",
        text,
        embedder,
    )
    assert asked == pytest.approx(plain, abs=0.05)
    # Other words the passages never use still count against them.
    elsewhere = "How many lighted shells hit the cathedral roof at once?"
    assert _coverage(elsewhere, text, embedder) < plain


def test_a_figure_is_evidenced_first_where_the_document_first_states_it(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _passage(
        1,
        5,
        "Total papers 81.1M Papers w/ PDF 28.9M (35.6%) Papers w/ full text 8.1M (10.0%) "
        "Table 1: Statistics of the corpus.",
    )
    abstract = _passage(
        2, 1, "In total, the corpus we introduce holds 81.1M English-language academic papers."
    )
    question = "How many papers are in the corpus in total?"

    def first_page() -> int:
        return rank_evidence(question, [table, abstract], embedder).sentences[0].page

    assert first_page() == 1
    monkeypatch.setattr(evidence, "FIRST_STATEMENT_WITHIN", 0)  # as ranked: the table first
    assert first_page() == 5


def test_an_earlier_sentence_sharing_only_a_side_figure_stays_where_it_ranks(
    embedder: Embedder,
) -> None:
    processing = _passage(
        1,
        3,
        "Of the 31.3M PDFs attached to the 200M paper clusters, 30.5M PDFs survived the "
        "filters and were processed by the parsers.",
    )
    clustering = _passage(
        2, 2, "Clustering by title similarity results in approximately 200M paper clusters."
    )

    ranked = rank_evidence(
        "How many PDFs survived the filters and were processed?", [processing, clustering], embedder
    )

    assert ranked.sentences[0].page == 3


def test_coverage_is_read_from_the_sentences_on_topic_whatever_figures_they_state(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_topic = _passage(
        1,
        4,
        "A link between a bibliography entry and a paper is created only when the best match "
        "beats the threshold on title similarity.",
    )
    figures = _passage(
        2,
        5,
        "We resolve 380.5M citation links between papers. Bibliography linking reached 0.96 "
        "accuracy on authors. We linked 156.5M citations to their inline mentions. The titles "
        "of 25,000 sampled bibliography entries were checked. Of 500 sampled entries, 20 had "
        "no paper to match.",
    )
    question = "What similarity score must the best match beat before a link is created?"

    def coverage(bonus: float) -> float:
        monkeypatch.setattr(evidence, "TYPE_BONUS", bonus)
        return rank_evidence(question, [on_topic, figures], embedder).coverage

    assert coverage(1.0) == pytest.approx(coverage(0.0))
    assert coverage(1.0) > 0.4  # "beat" and "created" are stated, on topic


def test_a_name_asked_of_what_the_passages_never_name_is_unnamed(embedder: Embedder) -> None:
    diary = _passage(
        1,
        3,
        "My thoughts were of home, and of the dear sister there, bedridden, with but little "
        "hope of health again. The mortar shells went up from the river all night.",
    )
    question = "What was the name of the writer's sister?"

    assert rank_evidence(question, [diary], embedder).unnamed == "the writer's sister"
    letter = _passage(2, 4, "Today a letter came from my sister Mary, who is better.")
    assert rank_evidence(question, [diary, letter], embedder).unnamed == ""
    # What no passage speaks of at all is for the coverage to tell.
    assert rank_evidence("What was the name of the ship?", [diary], embedder).unnamed == ""


TABLE = (
    "We compare the parsers on every category.\n"
    "Category GROBIDCRF RoBERTa I-VILA P R F1 P R F1 P R F1\n"
    "Author 55.2 42.6 48.1 87.5 73.5 79.9 65.5 96.9 78.2\n"
    "Title 0.0 0.0 0.0 76.3 96.7 85.3 98.7 99.9 99.3\n"
    "Table 3: Per-category precision, recall and F1 of logical structure recovery."
)


def test_a_table_row_is_evidence_read_with_its_caption_and_header(embedder: Embedder) -> None:
    passages = [
        _passage(1, 13, TABLE),
        _passage(2, 5, "The I-VILA model is a layout-infused Transformer pretrained on S2-VL."),
    ]
    ranked = rank_evidence("What F1 does I-VILA reach on paper titles?", passages, embedder)
    best = ranked.sentences[0]
    assert best.text.startswith("Title 0.0")
    assert best.context == (
        "Table 3: Per-category precision, recall and F1 of logical structure recovery. "
        "Category GROBIDCRF RoBERTa I-VILA P R F1 P R F1 P R F1"
    )
    [source] = sentence_sources(ranked.sentences, 1)
    assert source.text == f"{best.text}\n{best.context}"  # the row first: a small model copies it
    # The other row is still evidence, though the better one shows the same header.
    assert any(sentence.text.startswith("Author 55.2") for sentence in ranked.sentences)


def test_a_short_row_is_evidence_and_counts_what_its_label_names(embedder: Embedder) -> None:
    passages = [
        _passage(1, 5, "Total papers 81.1M\nPapers w/ PDF 28.9M (35.6%)\nTable 3: Statistics."),
        _passage(2, 5, "We resolve a total of 380.5M citation links between papers."),
    ]
    ranked = rank_evidence("How many papers are there in total?", passages, embedder)
    assert ranked.sentences[0].text == "Total papers 81.1M"


def test_the_first_statement_of_a_figure_is_looked_behind_in_turn() -> None:
    def ranked(page: int, score: float, text: str) -> evidence.EvidenceSentence:
        return evidence.EvidenceSentence(_passage(page, page, text), page, text, score, 0.5)

    summary = ranked(9, 1.86, "The corpus consists of 81.1M papers and 8.1M open-access PDFs.")
    introduction = ranked(2, 1.76, "We release full text extracted for 8.1M open access papers.")
    abstract = ranked(1, 1.50, "The corpus has structured full text for 8.1M open access papers.")

    first = evidence._first_statement_first([summary, introduction, abstract], "paper")[0]

    # The abstract is within the margin of the introduction's score, not of the summary's.
    assert abstract.score < summary.score - evidence.FIRST_STATEMENT_MARGIN
    assert first is abstract


def test_a_later_sentence_repeating_the_first_ones_figures_is_left_out_of_the_prompt() -> None:
    def ranked(page: int, text: str, document_id: int = 1) -> evidence.EvidenceSentence:
        passage = _passage(page, page, text, document_id)
        return evidence.EvidenceSentence(passage, page, text, 1.0, 0.5)

    abstract = ranked(1, "The corpus has structured full text for 8.1M open access papers.")
    conclusion = ranked(9, "It holds 81.1M papers and full text from 8.1M open-access PDFs.")
    other_paper = ranked(9, "Our corpus of 8.1M open access papers is larger.", document_id=2)
    method = ranked(3, "We parse each PDF with GROBID and keep the papers it reads whole.")

    sources = sentence_sources([abstract, conclusion, other_paper, method], 3)

    assert [source.text for source in sources] == [abstract.text, other_paper.text, method.text]
    assert [source.rank for source in sources] == [1, 2, 3]
