import pytest

from rag.sentences import ends_sentence, goes_on_over_page, split_sentences, without_glued_heading


@pytest.mark.parametrize(
    ("paragraph", "sentences"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "As shown by Lo et al. 2020, it works. Next.",
            ["As shown by Lo et al. 2020, it works.", "Next."],
        ),
        ("See Fig. 3 and e.g. Table 2. Done.", ["See Fig. 3 and e.g. Table 2.", "Done."]),
        ('He said "Stop." Then left.', ['He said "Stop."', "Then left."]),
        (
            "Styles such as BRACKET (e.g. [2]) or NAME-YEAR (e.g. ABC, 2019). Next.",
            ["Styles such as BRACKET (e.g. [2]) or NAME-YEAR (e.g. ABC, 2019).", "Next."],
        ),
        ("Version 2.5 is out. Get it.", ["Version 2.5 is out.", "Get it."]),
        (
            "an abstract . in lower case, e.g. this. it ends",
            ["an abstract .", "in lower case, e.g. this.", "it ends"],
        ),
        (
            "We use it on each PDF.11 We then parse it. It grew by 2.11 We know.",
            ["We use it on each PDF.11", "We then parse it.", "It grew by 2.11 We know."],
        ),  # a footnote's number after the end mark; a decimal is none
        (
            "A capital. then lower case stays one sentence",
            ["A capital. then lower case stays one sentence"],
        ),
        (
            "The U.S. Army held the line. He went to Washington, D.C. The next day he left.",
            [
                "The U.S. Army held the line.",
                "He went to Washington, D.C.",
                "The next day he left.",
            ],
        ),  # initials end a sentence only before a word that opens one
    ],
)
def test_split_sentences(paragraph: str, sentences: list[str]) -> None:
    assert split_sentences(paragraph) == sentences


def test_with_any_start_a_lower_case_word_after_an_end_mark_starts_a_sentence() -> None:
    abstract = "We introduce papermage, a toolkit. papermage offers abstractions, e.g. layers."
    assert split_sentences(abstract) == [abstract]
    assert split_sentences(abstract, any_start=True) == [
        "We introduce papermage, a toolkit.",
        "papermage offers abstractions, e.g. layers.",
    ]


@pytest.mark.parametrize(
    ("last", "first", "goes_on"),
    [
        ("Other tasks that leverage citation contexts include", "classifying intent.", True),
        ("Other tasks include citation intent.", "classifying intent.", False),
        ("3 Methods", "We build the corpus.", False),  # a heading, then a new sentence
        ("The corpus, as Table 2 shows", "(see p. 3) holds papers.", False),
        ("Results are listed as follows:", "precision and recall.", False),
    ],
)
def test_a_sentence_goes_on_over_a_page_break(last: str, first: str, goes_on: bool) -> None:
    assert goes_on_over_page(last, first) == goes_on


@pytest.mark.parametrize(
    ("text", "also", "ends"),
    [
        ("It has 81.1M papers.", "", True),
        ('He said "so."', "", True),
        ("(see Table 2.)", "", True),
        ("It has 81.1M papers. [1]", "", False),
        ("It has 81.1M papers. [1]", "]", True),
        ("Results are listed as follows:", "", False),
        ("Results are listed as follows:", ":;", True),
        ("To demonstrate the suitability of S2OR", ":;]", False),
    ],
)
def test_ends_sentence(text: str, also: str, ends: bool) -> None:
    assert ends_sentence(text, also) == ends


@pytest.mark.parametrize(
    ("sentence", "plain"),
    [
        (
            "Ethical Considerations As a toolkit designed to process scientific documents, "
            "there are two areas of harm.",
            "As a toolkit designed to process scientific documents, there are two areas of harm.",
        ),
        (
            "Misrepresentation of information in documents In \u00a73, we discussed how it can "
            "be extended.",
            "In \u00a73, we discussed how it can be extended.",
        ),
        # A capitalised opener after a function word, or a short rest: no heading.
        ("The results were published in The Lancet and reviewed by many.", None),
        ("We show that Our method beats the baseline on every one of the tasks.", None),
        ("Section Two The end.", None),
        ("In this work, we introduce a corpus of papers and a model.", None),
    ],
)
def test_a_heading_glued_to_a_sentence_is_taken_off(sentence: str, plain: str | None) -> None:
    assert without_glued_heading(sentence) == (plain or sentence)
