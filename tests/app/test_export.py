"""Answers, conversations and summaries exported as Markdown with their citations."""

from app.export import answer_markdown, conversation_markdown, summary_markdown
from rag.conversations import StoredTurn
from rag.summarize import Summary, SummaryPoint, SummarySection


def citation(n: int, page: int, quote: str) -> dict[str, object]:
    return {
        "n": n,
        "document_id": 7,
        "filename": "llama.pdf",
        "title": "LLaMA",
        "page": page,
        "quote": quote,
    }


DETAILS = {
    "answer": "LLaMA normalizes with RMSNorm [1]. It was trained on public data [2].",
    "citations": [
        citation(1, 3, "We use the RMSNorm normalizing function."),
        citation(2, 1, "We train on publicly available data."),
        citation(1, 3, "We use the RMSNorm normalizing function."),
    ],
    "evidence": [citation(1, 3, "We use the RMSNorm normalizing function.")],
    "unsupported_sentences": ["It is the best model ever made."],
}


def test_an_answer_lists_each_source_once_with_page_and_quote() -> None:
    text = answer_markdown("What  normalization\ndoes LLaMA use?", DETAILS)

    assert text.startswith("## What normalization does LLaMA use?\n")
    assert "RMSNorm [1]" in text
    sources = text.split("### Sources")[1].split("###")[0]
    assert sources.count("[1] LLaMA (llama.pdf), p. 3") == 1
    assert "[2] LLaMA (llama.pdf), p. 1: “We train on publicly available data.”" in sources
    assert "### Evidence from the sources" in text
    evidence_only = DETAILS | {"evidence": [citation(3, 5, "Training took 21 days.")]}
    sources = answer_markdown("How?", evidence_only).split("### Sources")[1].split("###")[0]
    assert "[3] LLaMA (llama.pdf), p. 5: “Training took 21 days.”" in sources  # as the app lists
    assert "### Not supported by the sources\n\n- It is the best model ever made." in text


def test_a_source_cited_by_several_sentences_lists_every_quote_once() -> None:
    second = citation(1, 4, "Pre-normalization stabilizes training.")
    details = DETAILS | {"citations": [*DETAILS["citations"], second]}  # type: ignore[list-item]
    sources = answer_markdown("How?", details).split("### Sources")[1].split("###")[0]
    assert sources.strip().splitlines() == [
        "- [1] LLaMA (llama.pdf), p. 3: “We use the RMSNorm normalizing function.”",
        "  - p. 4: “Pre-normalization stabilizes training.”",
        "- [2] LLaMA (llama.pdf), p. 1: “We train on publicly available data.”",
    ]


def test_an_answer_in_the_sources_words_does_not_repeat_them_as_evidence() -> None:
    quote = citation(1, 3, "We use the RMSNorm normalizing function.")
    quoted = {"answer": f"In the words of the sources: “{quote['quote']}” [1]", "quoted": True}
    text = answer_markdown("Which norm?", quoted | {"citations": [quote], "evidence": [quote]})
    assert "### Sources" in text and "### Evidence" not in text
    assert text.count("We use the RMSNorm normalizing function.") == 2  # the answer, the source


def test_a_conversation_keeps_its_turns_in_order() -> None:
    turns = [
        StoredTurn("First question?", "First answer [1].", {**DETAILS, "answer": "One [1]."}),
        StoredTurn("Second question?", "Second answer.", {**DETAILS, "answer": "Two [2]."}),
    ]

    text = conversation_markdown("First question?", turns)

    assert text.startswith("# First question?")
    assert text.index("## First question?") < text.index("## Second question?")
    assert text.count("### Sources") == 2


def test_a_summary_carries_page_references() -> None:
    summary = Summary(
        document_id=7,
        tldr="LLaMA is a family of open models.",
        tldr_pages=[1],
        sections=[
            SummarySection("Method", [SummaryPoint("Pre-normalization.", [3, 4])]),
            SummarySection("Limitations", []),
        ],
    )

    text = summary_markdown("LLaMA", summary)

    assert "**TL;DR** LLaMA is a family of open models. (p. 1)" in text
    assert "## Method\n\n- Pre-normalization. (pp. 3, 4)" in text
    assert "## Limitations\n\nNothing on this in the document.\n" in text


def test_an_unsupported_clause_is_marked_where_it_stands_in_the_answer() -> None:
    details = DETAILS | {
        "answer": "LLaMA normalizes with RMSNorm [1], which makes it the best model ever made.",
        "unsupported_sentences": ["which makes it the best model ever made."],
    }
    text = answer_markdown("How?", details)

    assert (
        "LLaMA normalizes with RMSNorm [1], [unsupported: which makes it the best model ever made.]"
        in text
    )
