import dataclasses
from collections.abc import Sequence

import pytest

from rag.prompt import (
    ECHO_STOPS,
    SOURCE_ROOM,
    SYSTEM_PROMPT,
    Message,
    QuestionTooLong,
    Turn,
    build_messages,
    is_follow_up,
    retrieval_query,
    without_earlier_answers,
    without_prompt_echo,
    without_restatements,
    without_source_headers,
)
from tests.rag.test_citations import passage


def words(messages: Sequence[Message]) -> int:
    return sum(len(message["content"].split()) for message in messages)


def test_sources_are_numbered_with_title_and_pages() -> None:
    sources = [passage(1, "Alpha text.", 3, 4), passage(2, "Beta\ftext.")]
    messages, kept = build_messages("Why?", sources, [], words, budget=1000)
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    content = messages[-1]["content"]
    assert '[1] "Document 1", pp. 3-4:\nAlpha text.' in content
    assert '[2] "Document 2", p. 1:\nBeta text.' in content
    assert content.index("Question: Why?") > content.index("[2]")
    assert kept == sources


def test_untitled_sources_are_numbered_with_their_text_alone() -> None:
    sources = [passage(1, "Alpha text.", 3, 4), passage(2, "Beta\ftext.")]
    messages, kept = build_messages("Why?", sources, [], words, budget=1000, titled=False)
    content = messages[-1]["content"]
    assert content.startswith("Sources:\n\n[1] Alpha text.\n\n[2] Beta text.\n\nQuestion: Why?")
    assert "Document" not in content and "p. " not in content
    assert kept == sources


def test_a_source_is_given_without_the_footnote_numbers_glued_to_its_words() -> None:
    sources = [passage(1, "We introduce S2ORC,1 a corpus of 81.1M papers from each PDF.11 We")]
    messages, _ = build_messages("How many?", sources, [], words, budget=1000, titled=False)
    assert (
        "[1] We introduce S2ORC a corpus of 81.1M papers from each PDF. We"
        in (messages[-1]["content"])
    )


def test_sources_then_history_are_dropped_to_fit_the_budget() -> None:
    sources = [passage(n, " ".join(["word"] * 50)) for n in range(1, 5)]
    history = [Turn("earlier question", "earlier answer " * 20)]
    full, _ = build_messages("Why?", sources, history, words, budget=10_000)
    messages, kept = build_messages("Why?", sources, history, words, budget=words(full) - 60)
    assert len(kept) == 2 and kept == sources[:2]
    assert words(messages) <= words(full) - 60
    one_source, _ = build_messages("Why?", sources[:1], [], words, budget=10_000)
    messages, kept = build_messages("Why?", sources, history, words, budget=words(one_source))
    assert kept == sources[:1] and all(m["role"] != "assistant" for m in messages)
    base, _ = build_messages("", [], [], words, budget=10_000)
    budget = words(base) + SOURCE_ROOM + 20
    expected = r"about 50 tokens, and at most 20 fit .* under about 15 words"
    with pytest.raises(QuestionTooLong, match=expected):
        build_messages("Why " * 50, sources[:1], [], words, budget=budget)


def test_follow_up_questions_are_searched_with_the_question_before() -> None:
    history = [Turn("What normalization does LLaMA use?", "RMSNorm [1].")]
    assert retrieval_query("And its limitations?", history) == (
        "What normalization does LLaMA use? And its limitations?"
    )
    assert retrieval_query("How is the S2ORC corpus licensed for research use?", history) == (
        "How is the S2ORC corpus licensed for research use?"
    )
    assert retrieval_query("And its limitations?", []) == "And its limitations?"
    assert is_follow_up("What are their weaknesses according to the authors?", history)
    assert not is_follow_up("How is the S2ORC corpus licensed for research use?", history)


def test_source_headers_a_model_copies_are_taken_out_of_its_answer() -> None:
    sources = [passage(1, "Alpha text.", 3, 4), passage(2, "Beta text.", 8, 8)]
    answer = (
        '"Document 2", p. 8: Beta is measured twice [2]. [1] Document 1, pp. 3-4: Alpha holds. '
        "1. Document 2, p. 8: Beta again. Document 3, p. 2: is no source here."
    )
    assert without_source_headers(answer, sources) == (
        "Beta is measured twice [2]. Alpha holds. Beta again. Document 3, p. 2: is no source here."
    )
    untitled = dataclasses.replace(sources[0], title="")
    assert (
        without_source_headers("As Lo et al., p. 4: says.", [untitled])
        == "As Lo et al., p. 4: says."
    )
    cut_off = 'Beta holds [2]. [1] "Documnt 1, the alpha part", p.'  # misspelt, then cut off
    assert without_source_headers(cut_off, sources) == "Beta holds [2]."


def test_the_prompt_lines_that_stop_an_echo_are_the_prompts_own() -> None:
    messages, _ = build_messages("Why?", [passage(1, "Alpha.")], [], words, budget=1000)
    assert all(stop in messages[-1]["content"] for stop in ECHO_STOPS)


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        (
            "The sources and cite them like. [1] Beta is measured twice [2].",
            "Beta is measured twice [2].",
        ),
        ("The sources and citations cited in the answer are: Alpha holds [1].", "Alpha holds [1]."),
        ("Answer briefly from the sources and cite them like [1].", ""),
        # Not about citing, or not only the prompt's words: an answer.
        ("The documents do not say.", "The documents do not say."),
        ("The sources cite Smith (2019) for this.", "The sources cite Smith (2019) for this."),
        ("Note: the sources cite it [2].", "Note: the sources cite it [2]."),
    ],
)
def test_the_instructions_written_back_are_not_part_of_the_answer(answer: str, kept: str) -> None:
    assert without_prompt_echo(answer) == kept


def test_sentences_that_repeat_an_earlier_answer_are_dropped() -> None:
    history = [Turn("How many papers does S2ORC hold?", "S2ORC contains 81.1M papers [1]. Yes.")]
    follow_up = (
        "S2ORC contains 81.1M papers [2]. Yes. Its full text covers 8.1M of them [1].\n"
        "S2ORC contains 81.1M papers."
    )
    assert without_earlier_answers(follow_up, history) == (
        "Yes. Its full text covers 8.1M of them [1]."
    )
    assert without_earlier_answers(follow_up, []) == follow_up


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        # The same sentence again, or a part of an earlier one (answers of the default model).
        (
            "The citation context is used to identify similar papers [1], which can be used to "
            "identify similar papers. [1] The citation context is used to identify similar "
            "papers. [1]",
            "The citation context is used to identify similar papers [1], which can be used to "
            "identify similar papers. [1]",
        ),
        # The same sentence citing another source says nothing new either.
        (
            "The citation context finds similar papers [1]. The citation context finds similar "
            "papers [2].",
            "The citation context finds similar papers [1].",
        ),
        # The same clauses in the other order, on a line of its own.
        (
            "The XML tree is not a traditional XML tree [1], but a tree-like representation.\n"
            "The XML tree is a tree-like representation [1], which is not a traditional XML tree.",
            "The XML tree is not a traditional XML tree [1], but a tree-like representation.",
        ),
        # The same words with another figure state something new; short sentences may repeat.
        (
            "S2ORC holds 81.1M papers and 8.1M full texts [1]. S2ORC holds 81.1M papers and "
            "1.5M full texts [2]. Yes. Yes.",
            "S2ORC holds 81.1M papers and 8.1M full texts [1]. S2ORC holds 81.1M papers and "
            "1.5M full texts [2]. Yes. Yes.",
        ),
        # Sharing some words is no restatement.
        (
            "GROBID parses the PDFs [1]. GROBID parses the bibliographies of the PDFs too [2].",
            "GROBID parses the PDFs [1]. GROBID parses the bibliographies of the PDFs too [2].",
        ),
    ],
)
def test_a_sentence_that_says_again_what_an_earlier_one_said_is_dropped(
    answer: str, kept: str
) -> None:
    assert without_restatements(answer) == kept
