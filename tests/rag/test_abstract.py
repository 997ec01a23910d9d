import pytest

from app.settings import Settings
from rag.abstract import abstract_sentences, contribution_index
from rag.embedder import Embedder
from tests.rag.test_citations import passage
from tests.rag.test_summarize import paper_passages


@pytest.mark.parametrize(
    ("filename", "contribution"),
    [
        (
            "s2orc_2020.acl-main.447.pdf",
            "We introduce S2ORC,1 a large corpus of 81.1M English-language academic papers "
            "spanning many academic disciplines.",
        ),
        # The abstract goes on in the next passage; its next sentence starts in lower case.
        (
            "papermage_emnlp2023-demo.pdf",
            "We introduce papermage, an open-source Python toolkit for analyzing and processing "
            "visually-rich, structured scientific documents.",
        ),
    ],
)
def test_a_papers_abstract_and_its_statement_of_contribution_are_found(
    embedder: Embedder, settings: Settings, filename: str, contribution: str
) -> None:
    found = abstract_sentences(paper_passages(filename, embedder, settings))
    assert len(found) >= 4 and all(page == 1 for page, _ in found)
    assert not any("Proceedings" in text or "Abstract" in text for _, text in found)
    sentences = [text for _, text in found]
    assert sentences[contribution_index(sentences, embedder)] == contribution


def test_without_a_heading_there_is_no_abstract() -> None:
    art = passage(1, "Abstract art was popular in New York in the 1950s.")
    assert abstract_sentences([art]) == []


def test_without_a_we_statement_the_closest_to_one_is_the_contribution(embedder: Embedder) -> None:
    sentences = [
        "Glaciers in the Alps have lost half their volume since 1900.",
        "This study measures the retreat of forty glaciers from aerial photographs.",
        "The retreat doubled in speed after 1980 in every valley measured.",
    ]
    assert contribution_index(sentences, embedder) == 1
