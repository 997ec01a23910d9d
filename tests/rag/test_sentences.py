import pytest

from rag.sentences import split_sentences


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
        ("Version 2.5 is out. Get it.", ["Version 2.5 is out.", "Get it."]),
        (
            "an abstract . in lower case, e.g. this. it ends",
            ["an abstract .", "in lower case, e.g. this.", "it ends"],
        ),
        (
            "A capital. then lower case stays one sentence",
            ["A capital. then lower case stays one sentence"],
        ),
    ],
)
def test_split_sentences(paragraph: str, sentences: list[str]) -> None:
    assert split_sentences(paragraph) == sentences
