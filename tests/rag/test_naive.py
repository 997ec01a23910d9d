"""The naive baseline's answer records, from a scripted generator and fixed passages (the real
model answers through it in tests/app/test_evaluate_qa.py)."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from model import SamplingParams
from rag.naive import NAIVE_SYSTEM_PROMPT, NaiveAnswerer, NaiveConfig, abstains, naive_messages
from rag.retrieve import Passage


def passage(n: int, page_start: int, page_end: int | None = None) -> Passage:
    return Passage(
        rank=n,
        score=1.0 / n,
        similarity=0.5,
        chunk_id=n,
        document_id=7,
        ordinal=n,
        filename="paper.pdf",
        title="A Paper",
        page_start=page_start,
        page_end=page_end or page_start,
        text=f"Passage {n} says\nsomething.\fOver the page.",
    )


PASSAGES = [passage(1, 3), passage(2, 5, 6), passage(3, 1), passage(4, 9), passage(5, 2)]


@dataclass
class FixedRetriever:
    passages: list[Passage]
    asked: list[int] = field(default_factory=list)

    def retrieve(self, query: str, collection_id: int, k: int) -> list[Passage]:
        self.asked.append(k)
        return self.passages[:k]


@dataclass
class ScriptedGenerator:
    """Writes `reply` in pieces; a prompt is its messages' characters, one token each."""

    reply: str
    context_window: int = 100_000
    prompts: list[list[dict[str, str]]] = field(default_factory=list)

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        self.prompts.append(list(messages))
        return [0] * sum(len(message["content"]) for message in messages)

    def stream(self, prompt: list[int], params: SamplingParams) -> Iterator[str]:
        yield from self.reply.partition(" ")

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def naive_answer(reply: str, passages: list[Passage] = PASSAGES) -> NaiveAnswerer:
    return NaiveAnswerer(FixedRetriever(passages), ScriptedGenerator(reply))  # type: ignore[arg-type]


def test_the_prompt_numbers_the_top_four_passages_in_one_message() -> None:
    retriever, generator = FixedRetriever(PASSAGES), ScriptedGenerator("It is so [2].")
    NaiveAnswerer(retriever, generator).ask("What does it say?", 1)  # type: ignore[arg-type]
    assert retriever.asked == [4]
    [system, user] = generator.prompts[-1]
    assert system == {"role": "system", "content": NAIVE_SYSTEM_PROMPT}
    assert user["content"].startswith("Sources:\n\n[1] Passage 1 says something. Over the page.")
    assert "[4] Passage 4" in user["content"] and "[5]" not in user["content"]
    assert user["content"].endswith("Question: What does it say?")


def test_citations_follow_the_valid_markers_with_the_chunks_first_page() -> None:
    answer = naive_answer("Both say so [2][9]. Again [2], and [4].").ask("Q?", 1)
    assert answer.found and answer.text == "Both say so [2][9]. Again [2], and [4]."
    assert [(c.n, c.page) for c in answer.citations] == [(2, 5), (4, 9)]
    assert answer.citations[0].quote == PASSAGES[1].text
    assert [(c.n, c.page) for c in answer.evidence] == [(1, 3), (2, 5), (3, 1)]
    assert answer.unsupported == [] and not answer.quoted
    assert len(answer.retrieved) == 4


def test_timings_are_filled_as_the_answerer_fills_them() -> None:
    timings = naive_answer("Two words.").ask("Q?", 1).timings
    assert 0 < timings.retrieve_ms < timings.ttft_ms <= timings.total_ms
    assert timings.prefill_ms > 0 and timings.prompt_ms >= 0


def test_an_empty_answer_or_one_saying_the_sources_lack_it_is_an_abstention() -> None:
    assert not naive_answer("").ask("Q?", 1).found
    assert not naive_answer("The sources do not contain this.").ask("Q?", 1).found
    for said in [
        "The documents don\u2019t mention the license.",
        "There is no information about it in the passages.",
        "I cannot answer that from these sources.",
        "The release date is not mentioned.",
        "I don't know.",
    ]:
        assert abstains(said), said
    for said in ["S2ORC contains 81.1M papers [1].", "The model does not use OCR [2]."]:
        assert not abstains(said), said


def test_passages_are_dropped_from_the_end_until_the_answer_fits() -> None:
    generator = ScriptedGenerator("Fine [4].")
    four = len(generator.chat_prompt(naive_messages("Q?", PASSAGES[:4])))
    generator.context_window = four + 200 - 10  # room for three passages and 200 new tokens
    config = NaiveConfig(max_new_tokens=200)
    answer = NaiveAnswerer(FixedRetriever(PASSAGES), generator, config).ask("Q?", 1)  # type: ignore[arg-type]
    assert len(answer.retrieved) == 4
    assert answer.citations == []  # [4] is no longer a source
    assert len(answer.evidence) == 3


@pytest.mark.parametrize("sources", [0, 2])
def test_with_few_passages_the_evidence_is_what_there_is(sources: int) -> None:
    answer = naive_answer("Yes [1].", PASSAGES[:sources]).ask("Q?", 1)
    assert len(answer.evidence) == sources
    assert len(answer.citations) == min(sources, 1)
