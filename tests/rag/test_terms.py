from rag.terms import content_terms, question_terms, without_footnote_numbers


def test_content_terms_are_stems_without_function_words() -> None:
    assert content_terms("The papers of the corpus") == ["paper", "corpus"]
    assert question_terms("According to the paper, how many papers are there?") == ["paper"]


def test_a_footnote_number_glued_to_a_word_is_not_part_of_it() -> None:
    assert content_terms("twelve sequence labeling models3") == content_terms(
        "twelve sequence labeling models"
    )
    # Short names that end in a number keep it.
    assert content_terms("GPT4 and v3") == ["gpt4", "v3"]
    # After a comma: "S2ORC,1 a large corpus" (a figure keeps its marks: 1,000 and v0.7.3).
    assert content_terms("S2ORC,1 a corpus") == ["s2orc", "1", "corpus"]
    assert content_terms("1,000 papers in v0.7.3") == ["1,000", "paper", "v0.7.3"]


def test_footnote_numbers_glued_to_words_are_taken_out_of_a_text() -> None:
    assert without_footnote_numbers("We introduce S2ORC,1 a corpus of 1,000 papers") == (
        "We introduce S2ORC a corpus of 1,000 papers"
    )
    assert without_footnote_numbers("We introduce S2ORC,1 a corpus", keep_commas=True) == (
        "We introduce S2ORC, a corpus"
    )
    assert without_footnote_numbers("from each PDF.11 We then parse") == (
        "from each PDF. We then parse"
    )
    assert without_footnote_numbers("publications (Kim et al., 2023).6 We open-source") == (
        "publications (Kim et al., 2023). We open-source"
    )
    assert without_footnote_numbers("labeling models3 to perform") == "labeling models to perform"
    # Decimals, versions and names that end in a number are no footnotes.
    assert without_footnote_numbers("by 2.11 We use GPT4 and v0.5.5 with word2vec") == (
        "by 2.11 We use GPT4 and v0.5.5 with word2vec"
    )
