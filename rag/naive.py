"""The naive RAG baseline that evaluation compares our answers with: the top passages numbered
[1]..[k] in one prompt with a standard instruction, the model's output taken as it is, nothing
checked. Its answers are `rag.answer.Answer` records, so they are scored the same way."""

import re
import time
from dataclasses import dataclass

from model import Generator, SamplingParams
from rag.answer import Answer, Timings
from rag.citations import Citation, marker_numbers
from rag.retrieve import Passage, Retriever

NAIVE_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer the question from the sources below and cite the "
    "sources you use like [1]. If the sources do not contain the answer, say so."
)
# How a model says that the sources hold no answer; such an answer counts as an abstention.
_ABSTENTION = re.compile(
    r"\b(?:sources?|documents?|passages?|context|text|papers?)\s+(?:do|does|did)(?: not|n't)"
    r"\s+(?:contain|say|mention|provide|include|state|specify|answer|discuss)"
    r"|\b(?:no|not enough) information\b|\bnot (?:mentioned|provided|specified|stated|given)\b"
    r"|\b(?:cannot|can't|could not|couldn't|unable to) (?:answer|find|determine|tell)\b"
    r"|\bI (?:do not|don't) know\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NaiveConfig:
    sources: int = 4
    evidence: int = 3
    max_new_tokens: int = 256
    temperature: float = 0.0


def abstains(text: str) -> bool:
    """Whether an answer is empty or says that the documents do not contain the answer."""
    return not text.strip() or bool(_ABSTENTION.search(text.replace("\u2019", "'")))


def naive_messages(question: str, sources: list[Passage]) -> list[dict[str, str]]:
    numbered = "\n\n".join(
        f"[{n}] {' '.join(passage.text.split())}" for n, passage in enumerate(sources, start=1)
    )
    return [
        {"role": "system", "content": NAIVE_SYSTEM_PROMPT},
        {"role": "user", "content": f"Sources:\n\n{numbered}\n\nQuestion: {question}"},
    ]


class NaiveAnswerer:
    def __init__(
        self, retriever: Retriever, generator: Generator, config: NaiveConfig | None = None
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.config = config or NaiveConfig()

    def ask(self, question: str, collection_id: int) -> Answer:
        started = time.perf_counter()
        timings = Timings()
        retrieved = self.retriever.retrieve(question, collection_id, self.config.sources)
        timings.retrieve_ms = _ms_since(started)
        prompt, sources = self.prompt(question, retrieved)
        timings.prompt_ms = _ms_since(started) - timings.retrieve_ms
        params = SamplingParams(
            max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature
        )
        pieces = []
        generation_started = first_token_at = time.perf_counter()
        for piece in self.generator.stream(prompt, params):
            if not pieces:
                first_token_at = time.perf_counter()
                timings.prefill_ms = (first_token_at - generation_started) * 1000
                timings.ttft_ms = (first_token_at - started) * 1000
            pieces.append(piece)
        decode_seconds = time.perf_counter() - first_token_at
        text = "".join(pieces).strip()
        tokens = self.generator.count_tokens(text)
        timings.tokens_per_s = (tokens - 1) / decode_seconds if decode_seconds > 0 else 0.0
        timings.total_ms = _ms_since(started)
        cited = [n for n in dict.fromkeys(marker_numbers(text)) if 1 <= n <= len(sources)]
        return Answer(
            question=question,
            text=text,
            found=not abstains(text),
            citations=[_citation(n, sources[n - 1]) for n in cited],
            evidence=[
                _citation(n, passage)
                for n, passage in enumerate(sources[: self.config.evidence], start=1)
            ],
            unsupported=[],
            retrieved=retrieved,
            timings=timings,
        )

    def prompt(self, question: str, retrieved: list[Passage]) -> tuple[list[int], list[Passage]]:
        """Token ids of the prompt and the passages it numbers; passages are dropped from the
        end while the prompt leaves no room for the answer in the context window."""
        budget = self.generator.context_window - self.config.max_new_tokens
        sources = list(retrieved)
        prompt = self.generator.chat_prompt(naive_messages(question, sources))
        while len(prompt) > budget and sources:
            sources.pop()
            prompt = self.generator.chat_prompt(naive_messages(question, sources))
        return prompt, sources


def _citation(n: int, passage: Passage) -> Citation:
    page = passage.page_start
    return Citation(n, passage.document_id, passage.filename, passage.title, page, passage.text)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
