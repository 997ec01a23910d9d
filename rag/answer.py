"""Answers with verified citations: retrieve, rank the passages' sentences as evidence, prompt
with numbered sources (the best sentences for a small model, whole passages for a large one),
stream the model's words (stopping a model that repeats itself), then check every claim against
the sources and attach the evidence sentences."""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from model import Generator, SamplingParams
from rag.asked import as_asked
from rag.citations import (
    CheckedAnswer,
    Citation,
    CitationChecker,
    marked_unsupported,
    renumbered,
)
from rag.embedder import Embedder
from rag.evidence import RankedEvidence, rank_evidence, traced_figures
from rag.loops import loop_end, until_loop
from rag.prompt import (
    ECHO_STOPS,
    Turn,
    build_messages,
    is_follow_up,
    passage_sources,
    retrieval_query,
    sentence_sources,
    without_earlier_answers,
    without_prompt_echo,
    without_restatements,
    without_source_headers,
)
from rag.retrieve import Passage, Retriever
from rag.sentences import ends_sentence

PROMPT_TOKENS = 2048  # prefill is the slow part on a CPU: no prompt longer than answers need
NOT_FOUND_SIMILARITY = 0.25  # below this, the best passage does not address the question
# Below this share of the question's terms (weighted by rarity) in the best five sentences, the
# documents do not speak of what is asked ("Under which license ...?" where none is named).
NOT_FOUND_COVERAGE = 0.3
NOT_FOUND_TEXT = (
    "I could not find an answer to this in the documents. The closest passages are listed below."
)
# Models below this many weights get the short prompt of evidence sentences under "auto": they
# lose the question in 1,400 tokens of passages, and prefill them slowly on a CPU.
SMALL_MODEL_PARAMETERS = 2_000_000_000
# Said after the streamed first answer, where nothing of it stood the check (the CLI).
ASKED_AGAIN_NOTE = (
    "Nothing of that stood the check against the sources, so the model was asked again with "
    "the best one alone."
)
IN_THEIR_WORDS = "The model wrote no answer that the sources support. In their own words:"


PromptStyle = Literal["sentences", "passages"]


@dataclass(frozen=True)
class AnswerConfig:
    prompt_style: PromptStyle = "sentences"
    sources: int = 5  # passages in a "passages" prompt
    prompt_sentences: int = 3  # in a "sentences" prompt: the evidence shown, no more (a small
    # model given eight copies the wrong one more often: bench/answer_quality.py)
    evidence_passages: int = 12  # retrieved passages whose sentences are ranked as evidence
    max_new_tokens: int = 256
    temperature: float = 0.0
    evidence: int = 3
    stop_loops: bool = True  # end the answer when the model starts repeating itself (rag.loops)

    def __post_init__(self) -> None:
        if self.prompt_sentences < self.evidence:
            # The evidence left out of the prompt could not be cited: it would drop out.
            raise ValueError(
                f"prompt_sentences ({self.prompt_sentences}) must be at least evidence "
                f"({self.evidence}): the prompt has to show every evidence sentence"
            )


@dataclass
class Timings:
    retrieve_ms: float = 0.0
    prompt_ms: float = 0.0  # fitting sources and history into the context window, tokenizing
    prefill_ms: float = 0.0  # from the start of generation to the first token
    ttft_ms: float = 0.0  # from the question to the first token
    total_ms: float = 0.0
    tokens_per_s: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {name: round(value, 1) for name, value in vars(self).items()}


@dataclass
class Answer:
    question: str
    text: str
    found: bool
    citations: list[Citation]
    evidence: list[Citation]
    unsupported: list[str]
    retrieved: list[Passage]
    timings: Timings = field(default_factory=Timings)
    conversation_id: int | None = None
    quoted: bool = False  # nothing the model wrote stood the check: the text quotes the evidence
    asked_again: bool = False  # nothing of the model's first answer stood the check: the text
    # is its answer from the best evidence sentence alone

    def to_json(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "answer_marked": marked_unsupported(self.text, self.unsupported),
            "found": self.found,
            "citations": [citation.to_json() for citation in self.citations],
            "evidence": [citation.to_json() for citation in self.evidence],
            "unsupported_sentences": self.unsupported,
            "retrieved": [passage.to_json() for passage in self.retrieved],
            "timings": self.timings.to_json(),
            "conversation_id": self.conversation_id,
            "quoted": self.quoted,
            "asked_again": self.asked_again,
        }


class AnswerStream:
    """Iterate for the answer's text as the model writes it; afterwards `answer` holds the
    checked answer (citations mapped, unsupported sentences listed, evidence attached)."""

    def __init__(self, pieces: Iterator[str], finish: Callable[[str], Answer]) -> None:
        self._pieces = pieces
        self._finish = finish
        self._callbacks: list[Callable[[Answer], None]] = []
        self.answer: Answer | None = None

    def then(self, callback: Callable[[Answer], None]) -> "AnswerStream":
        """Call `callback` with the checked answer once the stream has ended."""
        self._callbacks.append(callback)
        return self

    def __iter__(self) -> Iterator[str]:
        parts = []
        for piece in self._pieces:
            parts.append(piece)
            yield piece
        self.answer = self._finish("".join(parts))
        for callback in self._callbacks:
            callback(self.answer)

    def result(self) -> Answer:
        """Run to the end (if nobody iterated) and return the checked answer."""
        if self.answer is None:
            for _ in self:
                pass
        assert self.answer is not None
        return self.answer


class Answerer:
    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        embedder: Embedder,
        config: AnswerConfig | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.embedder = embedder
        self.config = config or AnswerConfig()

    def ask(
        self,
        question: str,
        collection_id: int,
        document_ids: list[int] | None = None,
        history: Sequence[Turn] = (),
    ) -> AnswerStream:
        started = time.perf_counter()
        timings = Timings()
        history = history if is_follow_up(question, history) else ()
        query = retrieval_query(question, history)
        depth = max(self.config.sources, self.config.evidence_passages)
        retrieved = self.retriever.retrieve(query, collection_id, depth, document_ids)
        timings.retrieve_ms = _ms_since(started)
        if not retrieved or retrieved[0].similarity < NOT_FOUND_SIMILARITY:
            return self._not_found(
                question, retrieved[: self.config.sources], timings, started, NOT_FOUND_TEXT
            )
        candidates = [*retrieved, *self.retriever.openings(retrieved)]
        ranked = rank_evidence(query, candidates, self.embedder)
        if ranked.unknown_names:  # looked up as written: in the collection, or not at all
            candidates += self.retriever.naming(
                ranked.unknown_names, collection_id, document_ids, len(candidates)
            )
            ranked = rank_evidence(query, candidates, self.embedder)
        if traced := traced_figures(query, ranked):  # stated earlier than retrieval found?
            best = ranked.sentences[0]
            if earlier := self.retriever.stating(
                traced, best.passage.document_id, best.page, candidates
            ):
                candidates += earlier
                ranked = rank_evidence(query, candidates, self.embedder)
        if (
            not ranked.sentences
            or ranked.coverage < NOT_FOUND_COVERAGE
            or ranked.unknown_names
            or ranked.uncounted
            or ranked.unmeasured
            or ranked.unnamed
        ):
            unknown = as_asked(query, ranked.unknown_names)
            text = not_found_text(unknown, ranked.uncounted, ranked.unmeasured, ranked.unnamed)
            return self._not_found(
                question, retrieved[: self.config.sources], timings, started, text
            )

        prompt, sources = self.prompt(question, self._sources(ranked, retrieved), history)
        retrieved = retrieved[: self.config.sources]
        params = SamplingParams(
            max_new_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature,
            stop=ECHO_STOPS,
        )
        timings.prompt_ms = _ms_since(started) - timings.retrieve_ms
        first_token_at = started

        def pieces() -> Iterator[str]:
            nonlocal first_token_at
            generation_started = time.perf_counter()
            stream = self.generator.stream(prompt, params)
            for index, piece in enumerate(until_loop(stream) if self.config.stop_loops else stream):
                if index == 0:
                    first_token_at = time.perf_counter()
                    timings.prefill_ms = (first_token_at - generation_started) * 1000
                    timings.ttft_ms = (first_token_at - started) * 1000
                yield piece

        def finish(text: str) -> Answer:
            decode_seconds = time.perf_counter() - first_token_at
            tokens = self.generator.count_tokens(text)
            timings.tokens_per_s = (tokens - 1) / decode_seconds if decode_seconds > 0 else 0.0
            checker = CitationChecker(self.embedder, sources)
            evidence = checker.cite(ranked.sentences[: self.config.evidence])
            checked = checker.check(self._cleaned(text, tokens, sources, history), question)
            asked_again = False
            if (
                not checked.citations
                and self.config.prompt_style == "sentences"
                and len(sources) > 1
            ):
                again = self._from_best_sentence(question, sources, history, params)
                if again.citations:
                    checked, asked_again = again, True
            checked, evidence = renumbered(checked, evidence)
            quoted = not checked.citations
            if quoted:  # nothing the model wrote stood the check: answer with the evidence
                checked = CheckedAnswer(in_their_words(evidence), evidence, [])
            timings.total_ms = _ms_since(started)
            return Answer(
                question=question,
                text=checked.text or NOT_FOUND_TEXT,
                found=bool(checked.text),
                citations=checked.citations,
                evidence=evidence,
                unsupported=checked.unsupported,
                retrieved=retrieved,
                timings=timings,
                quoted=quoted,
                asked_again=asked_again,
            )

        return AnswerStream(pieces(), finish)

    def _cleaned(
        self, text: str, tokens: int, sources: list[Passage], history: Sequence[Turn]
    ) -> str:
        """The model's text without what is no answer: a loop after its first round, source
        headers, the prompt or earlier answers written back, restatements, a cut-off sentence."""
        text = without_source_headers(text[: loop_end(text)], sources)
        text = without_earlier_answers(without_prompt_echo(text), history)
        text = without_restatements(text)
        if tokens >= self.config.max_new_tokens:
            text = without_cut_sentence(text)
        return text

    def _from_best_sentence(
        self,
        question: str,
        sources: list[Passage],
        history: Sequence[Turn],
        params: SamplingParams,
    ) -> CheckedAnswer:
        """The model's answer, cleaned and checked, when the prompt shows only the best evidence
        sentence: asked again where nothing of its first answer stood the check ("The answer
        is: [1].", the question said back). A small model given one source copies what answers
        the question from it more often than it does from three. It is checked against that
        one source: the only one it saw."""
        prompt, best = self.prompt(question, sources[:1], history)
        stream = self.generator.stream(prompt, params)
        text = "".join(until_loop(stream) if self.config.stop_loops else stream)
        cleaned = self._cleaned(text, self.generator.count_tokens(text), best, history)
        return CitationChecker(self.embedder, best).check(cleaned, question)

    def _sources(self, ranked: RankedEvidence, retrieved: list[Passage]) -> list[Passage]:
        if self.config.prompt_style == "sentences":
            return sentence_sources(ranked.sentences, self.config.prompt_sentences)
        return passage_sources(ranked.sentences, retrieved, self.config.sources)

    def prompt(
        self, question: str, retrieved: list[Passage], history: Sequence[Turn] = ()
    ) -> tuple[list[int], list[Passage]]:
        """Token ids of the answer prompt, and the sources it numbers [1], [2], ..."""
        budget = min(self.generator.context_window, PROMPT_TOKENS) - self.config.max_new_tokens
        messages, sources = build_messages(
            question,
            retrieved,
            history,
            lambda candidate: len(self.generator.chat_prompt(candidate)),
            budget,
            titled=self.config.prompt_style == "passages",
        )
        return self.generator.chat_prompt(messages), sources

    def _not_found(
        self,
        question: str,
        retrieved: list[Passage],
        timings: Timings,
        started: float,
        text: str,
    ) -> AnswerStream:
        def finish(_: str) -> Answer:
            timings.total_ms = _ms_since(started)
            return Answer(question, text, False, [], [], [], retrieved, timings)

        return AnswerStream(iter([text]), finish)


def prompt_style_for(setting: str, generator: object) -> PromptStyle:
    """The prompt style a setting ("auto", "sentences" or "passages") gives this generator:
    under "auto", sentences for a model run here that is small, passages for any other."""
    if setting == "sentences" or setting == "passages":
        return setting
    small = isinstance(generator, Generator) and (
        generator.model.config.parameters < SMALL_MODEL_PARAMETERS
    )
    return "sentences" if small else "passages"


def without_cut_sentence(text: str) -> str:
    """The text without its last sentence where the token limit cut that sentence off (it has
    no end mark): half a claim is no claim ("To demonstrate the suitability of S2OR")."""
    stripped = text.rstrip()
    if not stripped or ends_sentence(stripped, also="]"):
        return text
    cut = max(stripped.rfind(mark) for mark in (". ", "! ", "? ", "]\n", ".\n", "] "))
    return stripped[: cut + 1] if cut >= 0 else ""


def not_found_text(
    unknown_names: Sequence[str] = (), uncounted: str = "", unmeasured: str = "", unnamed: str = ""
) -> str:
    """The answer when the documents do not answer; naming what they never mention, if any,
    what a "how many" question counts that the passages give no number of, the measure they
    report no figure of, or what they give no name of."""
    if unknown_names:
        names = ", ".join(unknown_names[:-1]) + (" or " if len(unknown_names) > 1 else "")
        why = f"they never mention {names}{unknown_names[-1]}"
    elif uncounted:
        why = f"the passages that speak of it give no number of {uncounted}"
    elif unmeasured:
        why = f"the passages that speak of it report no {unmeasured}"
    elif unnamed:
        why = f"the passages that speak of {unnamed} give no name"
    else:
        return NOT_FOUND_TEXT
    return NOT_FOUND_TEXT.replace("documents.", f"documents: {why}.", 1)


def in_their_words(evidence: list[Citation]) -> str:
    """An answer quoting the evidence sentences, each with its marker ("" without evidence)."""
    if not evidence:
        return ""
    quotes = " ".join(f'"{citation.quote}" [{citation.n}]' for citation in evidence)
    return f"{IN_THEIR_WORDS} {quotes}"


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
