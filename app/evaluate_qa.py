"""Answer quality on a question file, through the normal answering path and, in the same run on
the same questions, through the naive RAG baseline (`rag.naive`).

A line is `{"question","answer","document"?,"page"?}`; a development set adds `"key_fact"` (a few
words of the page, verbatim), `"kind"` (`numeric`, `factual` or `unanswerable`) and `"id"`.
Unanswerable lines have a null answer. Measures, per system:

- evidence hit@3: the key fact is in one of the first three evidence quotes;
- key fact in the model's words: in the answer text, markers stripped, counting as empty when
  the answer only quotes the evidence (`Answer.quoted`) or found nothing;
- answer recall and model answer recall: the reference answer's words found in what the reader
  sees (answer and evidence) and in the model's words alone (as in SQuAD's normalization);
- cited page: the first source the answer cites (its first citation, else its first evidence
  quote) is the reference's document and page; also whether any of them is; and whether the
  first supports the key fact: it is on the reference's page, or its quote states the key fact
  (a paper states its 81.1M papers on five pages, and a quote that says so is a right citation);
- abstention on unanswerable questions, false abstention on answerable ones;
- latency: time to first token after retrieval, and total time, p50 and p95.

A key fact matches case-insensitively with runs of whitespace as one space; a figure also
matches the same figure at the same scale ("81.1M" and "81.1 million"), as the citation check
compares figures (`rag.citations.states_figures_of`).
"""

import math
import re
import statistics
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.evaluate import Progress, read_jsonl
from app.service import Scholar, ScholarError
from rag.answer import Answer
from rag.citations import states_figures_of, strip_markers
from rag.naive import NaiveAnswerer, NaiveConfig

OURS = "ours"
NAIVE = "naive"
BASELINES = (NAIVE,)
EVIDENCE_DEPTH = 3  # evidence hit@3
UNANSWERABLE = "unanswerable"

_ARTICLES = {"a", "an", "the"}
_SCALE_WORDS = {"k", "m", "b", "mn", "bn", "thousand", "million", "billion", "trillion",
                "percent", "per", "cent"}  # fmt: skip
_PUNCTUATION = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2019": "'",
                              "\u2018": "'", "\u201c": '"', "\u201d": '"'})  # fmt: skip


@dataclass(frozen=True)
class QaQuestion:
    question: str
    answer: str | None
    key_fact: str | None = None
    document: str | None = None
    page: int | None = None
    kind: str | None = None
    id: str | None = None

    @property
    def answerable(self) -> bool:
        return self.kind != UNANSWERABLE and bool(self.answer or self.key_fact)


@dataclass(frozen=True)
class Scored:
    """One answer's scores; None where a measure does not apply to its question."""

    id: str | None
    kind: str | None
    answerable: bool
    abstained: bool
    evidence_hit: bool | None
    key_fact_in_answer: bool | None
    answer_recall: float | None
    model_answer_recall: float | None
    first_cited_right: bool | None
    any_cited_right: bool | None
    first_cited_supports: bool | None  # on the reference page, or its quote states the key fact
    ttft_after_retrieval_ms: float | None  # None when the model wrote nothing
    total_ms: float
    text: str


@dataclass(frozen=True)
class QaScores:
    questions: int
    answerable: int
    unanswerable: int
    evidence_hit_at_3: float | None
    key_fact_recall: float | None
    answer_recall: float | None
    model_answer_recall: float | None
    cited_page_first: float | None
    cited_page_any: float | None
    cited_supports_first: float | None
    abstention: float | None
    false_abstention: float | None
    abstention_rate: float  # over all questions
    ttft_after_retrieval_p50_ms: float | None
    ttft_after_retrieval_p95_ms: float | None
    latency_p50_ms: float  # total time
    latency_p95_ms: float
    by_kind: dict[str, dict[str, float | int | None]]

    def to_json(self) -> dict[str, object]:
        return {name: _rounded(value) for name, value in vars(self).items()}


@dataclass(frozen=True)
class QaReport:
    scores: dict[str, QaScores]  # "ours", then any baseline
    results: dict[str, list[Scored]]

    def to_json(self) -> dict[str, object]:
        """Our scores; with a baseline, {"ours": ..., "naive": ...}."""
        if len(self.scores) == 1:
            return self.scores[OURS].to_json()
        return {system: scores.to_json() for system, scores in self.scores.items()}


def load_questions(path: Path) -> list[QaQuestion]:
    rows = read_jsonl(path)
    if not rows:
        raise ScholarError(f"{path} holds no questions")
    questions = []
    for number, row in enumerate(rows, start=1):
        if "question" not in row or "answer" not in row:
            raise ScholarError(f'{path}:{number}: each line needs "question" and "answer"')
        page = row.get("page")
        questions.append(
            QaQuestion(
                question=str(row["question"]),
                answer=_text(row["answer"]),
                key_fact=_text(row.get("key_fact")),
                document=_text(row.get("document")),
                page=None if page is None else int(str(page)),
                kind=_text(row.get("kind")),
                id=_text(row.get("id")),
            )
        )
    return questions


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def normalized(text: str) -> str:
    """Lower case, compatibility forms (ligatures spelt out), plain dashes and quotes, runs of
    whitespace as one space."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION)
    return " ".join(text.lower().split())


def states_key_fact(key_fact: str, text: str) -> bool:
    """Whether `text` states the key fact: its words in order, not inside other words or
    numbers ("8.1M" is not in "81.1M"), or for a key fact with figures, its figures at the same
    scale and its other words."""
    fact, said = normalized(key_fact), normalized(text)
    if not fact:
        return False
    before = r"(?<!\w)(?<!\d[.,])" if fact[0].isalnum() else ""
    after = r"(?!\w)(?![.,]\d)" if fact[-1].isalnum() else ""
    if re.search(before + re.escape(fact) + after, said):
        return True
    if not re.search(r"\d", fact):
        return False
    words = set(re.findall(r"[^\W\d_]+", fact)) - _SCALE_WORDS
    return states_figures_of(key_fact, text) and words <= set(re.findall(r"[^\W\d_]+", said))


def answer_tokens(text: str) -> set[str]:
    """Lower-cased words without punctuation and articles (as in SQuAD's normalization)."""
    return {word for word in re.findall(r"\w+", text.lower()) if word not in _ARTICLES}


def token_recall(reference: str, answer: str) -> float:
    expected = answer_tokens(reference)
    return len(expected & answer_tokens(answer)) / len(expected) if expected else 0.0


def own_words(answer: Answer) -> str:
    """What the model itself wrote, markers stripped: nothing when the answer found nothing or
    only quotes the evidence."""
    return "" if answer.quoted or not answer.found else strip_markers(answer.text)


def score(question: QaQuestion, answer: Answer) -> Scored:
    answerable = question.answerable
    words = own_words(answer)
    fact = question.key_fact if answerable else None
    evidence = [citation.quote for citation in answer.evidence[:EVIDENCE_DEPTH]]
    reference = question.answer if answerable else None
    shown = " ".join([answer.text, *(citation.quote for citation in answer.evidence)])
    cited = answer.citations or answer.evidence
    judged = answerable and question.page is not None and bool(cited)
    right = [
        citation.page == question.page
        and question.document in (None, citation.filename, citation.title)
        for citation in cited
    ]
    timings = answer.timings
    return Scored(
        id=question.id,
        kind=question.kind,
        answerable=answerable,
        abstained=not answer.found,
        evidence_hit=None if fact is None else any(states_key_fact(fact, q) for q in evidence),
        key_fact_in_answer=None if fact is None else states_key_fact(fact, words),
        answer_recall=None if reference is None else token_recall(reference, shown),
        model_answer_recall=None if reference is None else token_recall(reference, words),
        first_cited_right=right[0] if judged else None,
        any_cited_right=any(right) if judged else None,
        first_cited_supports=(
            right[0] or (fact is not None and states_key_fact(fact, cited[0].quote))
            if judged
            else None
        ),
        ttft_after_retrieval_ms=(
            timings.ttft_ms - timings.retrieve_ms if timings.ttft_ms > 0 else None
        ),
        total_ms=timings.total_ms,
        text=answer.text,
    )


def aggregate(results: list[Scored]) -> QaScores:
    answerable = [result for result in results if result.answerable]
    unanswerable = [result for result in results if not result.answerable]
    ttfts = [r.ttft_after_retrieval_ms for r in results if r.ttft_after_retrieval_ms is not None]
    totals = [result.total_ms for result in results]
    kinds = [kind for kind in dict.fromkeys(result.kind for result in answerable) if kind]
    return QaScores(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        evidence_hit_at_3=_mean(result.evidence_hit for result in answerable),
        key_fact_recall=_mean(result.key_fact_in_answer for result in answerable),
        answer_recall=_mean(result.answer_recall for result in answerable),
        model_answer_recall=_mean(result.model_answer_recall for result in answerable),
        cited_page_first=_mean(result.first_cited_right for result in answerable),
        cited_page_any=_mean(result.any_cited_right for result in answerable),
        cited_supports_first=_mean(result.first_cited_supports for result in answerable),
        abstention=_mean(result.abstained for result in unanswerable),
        false_abstention=_mean(result.abstained for result in answerable),
        abstention_rate=sum(result.abstained for result in results) / len(results),
        ttft_after_retrieval_p50_ms=statistics.median(ttfts) if ttfts else None,
        ttft_after_retrieval_p95_ms=percentile(ttfts, 0.95) if ttfts else None,
        latency_p50_ms=statistics.median(totals),
        latency_p95_ms=percentile(totals, 0.95),
        by_kind={
            kind: {
                "questions": sum(result.kind == kind for result in answerable),
                "evidence_hit_at_3": _mean(r.evidence_hit for r in answerable if r.kind == kind),
                "key_fact_recall": _mean(
                    r.key_fact_in_answer for r in answerable if r.kind == kind
                ),
            }
            for kind in kinds
        },
    )


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with `fraction` of them at or below."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(math.ceil(fraction * len(ordered)) - 1, 0))]


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(value) for value in values if value is not None]
    return statistics.mean(present) if present else None


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def evaluate_qa(
    path: Path,
    scholar: Scholar,
    collection: str,
    progress: Progress | None = None,
    baseline: str | None = None,
) -> QaReport:
    """Ask every question of the file, of our answerer and, with `baseline="naive"`, of the
    naive baseline right after it (the same question, the same model, the same load)."""
    questions = load_questions(path)
    if baseline is not None and baseline not in BASELINES:
        raise ScholarError(f"unknown baseline {baseline!r}: choose from {', '.join(BASELINES)}")
    collection_id = scholar.collection_id(collection)
    naive = None
    if baseline == NAIVE:
        settings = scholar.settings
        config = NaiveConfig(
            max_new_tokens=settings.max_new_tokens, temperature=settings.temperature
        )
        naive = NaiveAnswerer(scholar.retriever, scholar.generator, config)
    results: dict[str, list[Scored]] = {OURS: []} | ({NAIVE: []} if naive else {})
    for done, question in enumerate(questions, start=1):
        results[OURS].append(score(question, scholar.ask(question.question, collection).result()))
        if naive is not None:
            results[NAIVE].append(score(question, naive.ask(question.question, collection_id)))
        if progress:
            progress("questions", done, len(questions))
    return QaReport({system: aggregate(scored) for system, scored in results.items()}, results)


# (label, QaScores field, unit): a rate is compared by difference, milliseconds by ratio.
TABLE_ROWS = [
    ("evidence hit@3", "evidence_hit_at_3", "rate"),
    ("key fact in the model's words", "key_fact_recall", "rate"),
    ("answer recall (answer + evidence)", "answer_recall", "rate"),
    ("model answer recall (own words)", "model_answer_recall", "rate"),
    ("cited page right (first citation)", "cited_page_first", "rate"),
    ("first citation supports the key fact", "cited_supports_first", "rate"),
    ("cited page right (any citation)", "cited_page_any", "rate"),
    ("abstention (unanswerable)", "abstention", "rate"),
    ("false abstention (answerable)", "false_abstention", "rate"),
    ("first token after retrieval p50 (ms)", "ttft_after_retrieval_p50_ms", "ms"),
    ("first token after retrieval p95 (ms)", "ttft_after_retrieval_p95_ms", "ms"),
    ("total time p50 (ms)", "latency_p50_ms", "ms"),
    ("total time p95 (ms)", "latency_p95_ms", "ms"),
]
KIND_ROWS = [("evidence hit@3", "evidence_hit_at_3"), ("key fact in words", "key_fact_recall")]


def report_table(report: QaReport) -> str:
    """A Markdown table, rows the measures and columns the systems; with a baseline, a last
    column compares ours with it: the difference of rates, the ratio of times."""
    systems = list(report.scores)
    rows = [
        (label, [getattr(report.scores[system], name) for system in systems], unit)
        for label, name, unit in TABLE_ROWS
    ]
    kinds = dict.fromkeys(kind for scores in report.scores.values() for kind in scores.by_kind)
    for kind in kinds:
        for label, name in KIND_ROWS:
            values = [report.scores[s].by_kind.get(kind, {}).get(name) for s in systems]
            rows.append((f"{label}, {kind}", values, "rate"))
    header = ["measure", *systems] + (["ours vs " + systems[1]] if len(systems) > 1 else [])
    lines = [header, ["---"] * len(header)]
    for label, values, unit in rows:
        cells = [_cell(value, unit) for value in values]
        if len(values) > 1:
            cells.append(_comparison(values[0], values[1], unit))
        lines.append([label, *cells])
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _cell(value: object, unit: str) -> str:
    if not isinstance(value, float | int):
        return "n/a"
    return f"{value:.0f}" if unit == "ms" else f"{value:.2f}"


def _comparison(ours: object, theirs: object, unit: str) -> str:
    if not isinstance(ours, float | int) or not isinstance(theirs, float | int):
        return "n/a"
    if unit == "ms":
        return f"{ours / theirs:.2f}x" if theirs else "n/a"
    return f"{ours - theirs:+.2f}"
