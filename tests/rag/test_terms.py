from rag.terms import content_terms, question_terms


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
