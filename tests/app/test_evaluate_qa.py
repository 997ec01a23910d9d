import json
from pathlib import Path

import pytest

from app.cli import main
from app.evaluate_qa import (
    QaQuestion,
    QaReport,
    aggregate,
    answer_tokens,
    load_questions,
    percentile,
    report_table,
    score,
    states_key_fact,
    token_recall,
)
from app.service import ScholarError
from app.settings import Settings
from rag.answer import Answer, Timings
from rag.citations import Citation
from tests.conftest import TOPIC_PAGES, write_pdf

S2ORC = "s2orc.pdf"
QUESTION = QaQuestion(
    question="How many papers are in S2ORC?",
    answer="About 81.1M English-language academic papers.",
    key_fact="81.1M",
    document=S2ORC,
    page=1,
    kind="numeric",
    id="s2orc-01",
)
UNANSWERABLE = QaQuestion("Under which license is S2ORC released?", None, kind="unanswerable")


def quote(text: str, page: int = 1, filename: str = S2ORC, n: int = 1) -> Citation:
    return Citation(n, 1, filename, "S2ORC", page, text)


def answer(
    text: str = "",
    citations: list[Citation] | None = None,
    evidence: list[Citation] | None = None,
    found: bool = True,
    quoted: bool = False,
    timings: Timings | None = None,
) -> Answer:
    return Answer(
        question=QUESTION.question,
        text=text,
        found=found,
        citations=citations or [],
        evidence=evidence or [],
        unsupported=[],
        retrieved=[],
        timings=timings or Timings(retrieve_ms=40, ttft_ms=1040, total_ms=3000),
        quoted=quoted,
    )


def test_a_key_fact_matches_case_whitespace_and_the_same_figure_at_its_scale() -> None:
    assert states_key_fact("81.1M", "S2ORC holds 81.1 million papers")
    assert states_key_fact("PDF  Parsers", "two pdf\nparsers are combined")
    assert states_key_fact("1,400 tokens", "a prompt of 1400 tokens")
    assert states_key_fact("ﬁgure 3", "see Figure 3")  # the ligature spelt out
    assert not states_key_fact("81.1M", "S2ORC holds 81.1 billion papers")
    assert not states_key_fact("8.1M", "S2ORC holds 81.1M papers")
    assert not states_key_fact("parser", "two PDF parsers")
    assert not states_key_fact("81.1M", "")


def test_evidence_hit_counts_the_first_three_quotes_only() -> None:
    filler = [quote(f"A sentence about something else, number {n}.") for n in range(3)]
    late = answer(evidence=[*filler, quote("It has 81.1M English-language papers.")])
    early = answer(evidence=[filler[0], quote("It has 81.1 million papers."), filler[1]])
    assert score(QUESTION, late).evidence_hit is False
    assert score(QUESTION, early).evidence_hit is True
    assert score(UNANSWERABLE, early).evidence_hit is None


def test_the_key_fact_counts_in_the_models_own_words_only() -> None:
    said = answer("S2ORC contains 81.1 million papers [1].")
    assert score(QUESTION, said).key_fact_in_answer is True
    assert score(QUESTION, said).model_answer_recall == pytest.approx(token_recall(
        QUESTION.answer or "", "S2ORC contains 81.1 million papers"))  # fmt: skip
    quoted = answer('In the words of the sources: "It has 81.1M papers." [1]', quoted=True)
    assert score(QUESTION, quoted).key_fact_in_answer is False
    assert score(QUESTION, quoted).model_answer_recall == 0.0
    assert score(QUESTION, quoted).answer_recall > 0  # the reader still sees it
    not_found = answer("81.1M? I could not find an answer.", found=False)
    assert score(QUESTION, not_found).key_fact_in_answer is False
    assert score(QUESTION, answer("It has 8.1M papers.")).key_fact_in_answer is False


def test_the_cited_page_is_the_first_citation_else_the_first_evidence_quote() -> None:
    wrong, right = quote("Elsewhere.", page=3), quote("It has 81.1M papers.", page=1)
    second_cited = score(QUESTION, answer("...", citations=[wrong, right], evidence=[right]))
    assert (second_cited.first_cited_right, second_cited.any_cited_right) == (False, True)
    by_evidence = score(QUESTION, answer("...", evidence=[right, wrong]))
    assert (by_evidence.first_cited_right, by_evidence.any_cited_right) == (True, True)
    other_paper = score(QUESTION, answer("...", citations=[quote("x", filename="papermage.pdf")]))
    assert other_paper.any_cited_right is False
    assert score(QUESTION, answer("...")).first_cited_right is None  # nothing cited


def test_a_first_citation_on_another_page_supports_the_fact_when_its_quote_states_it() -> None:
    restated = quote("The corpus holds 81.1 million papers.", page=5)
    elsewhere = quote("Elsewhere, papers are counted.", page=5)
    stating = score(QUESTION, answer("...", citations=[restated]))
    assert (stating.first_cited_right, stating.first_cited_supports) == (False, True)
    assert score(QUESTION, answer("...", citations=[elsewhere])).first_cited_supports is False
    on_page = score(QUESTION, answer("...", citations=[quote("Other words.", page=1)]))
    assert on_page.first_cited_supports is True
    assert score(QUESTION, answer("...")).first_cited_supports is None


def test_abstention_false_abstention_latency_and_kinds_are_aggregated() -> None:
    factual = QaQuestion("Which parser?", "Grobid", "GROBID", S2ORC, 2, "factual")
    slow = Timings(retrieve_ms=50, ttft_ms=3050, total_ms=9000)
    nothing = Timings(retrieve_ms=30, total_ms=35)  # the model wrote nothing
    results = [
        score(QUESTION, answer("81.1M papers.", evidence=[quote("81.1M papers in all.")])),
        score(factual, answer("No.", found=False, timings=nothing)),
        score(UNANSWERABLE, answer("The documents do not say.", found=False)),
        score(UNANSWERABLE, answer("CC BY-NC.", timings=slow)),
    ]
    scores = aggregate(results)
    assert (scores.questions, scores.answerable, scores.unanswerable) == (4, 2, 2)
    assert scores.abstention == 0.5 and scores.false_abstention == 0.5
    assert scores.abstention_rate == 0.5
    assert scores.evidence_hit_at_3 == 0.5 and scores.key_fact_recall == 0.5
    assert scores.ttft_after_retrieval_p50_ms == 1000 and scores.ttft_after_retrieval_p95_ms == 3000
    assert scores.latency_p95_ms == 9000
    assert scores.by_kind["numeric"] == {
        "questions": 1,
        "evidence_hit_at_3": 1.0,
        "key_fact_recall": 1.0,
    }
    assert scores.by_kind["factual"]["key_fact_recall"] == 0.0
    assert percentile([5.0, 1.0, 3.0, 2.0], 0.5) == 2.0


def test_the_table_compares_ours_with_the_baseline() -> None:
    ours = aggregate([score(QUESTION, answer("81.1M papers.", evidence=[quote("81.1M.")]))])
    slow = Timings(retrieve_ms=40, ttft_ms=2040, total_ms=6000)
    naive = aggregate([score(QUESTION, answer("Many papers.", timings=slow))])
    report = QaReport({"ours": ours, "naive": naive}, {})
    table = report_table(report).splitlines()
    assert table[0] == "| measure | ours | naive | ours vs naive |"
    assert "| key fact in the model's words | 1.00 | 0.00 | +1.00 |" in table
    assert "| first token after retrieval p50 (ms) | 1000 | 2000 | 0.50x |" in table
    assert "| abstention (unanswerable) | n/a | n/a | n/a |" in table
    assert "| evidence hit@3, numeric | 1.00 | 0.00 | +1.00 |" in table
    assert set(report.to_json()) == {"ours", "naive"}
    assert "naive" not in QaReport({"ours": ours}, {}).to_json()


def test_question_files_old_and_new_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"question": "Why?", "answer": "Because", "page": 2}\n\n'
        '{"id": "x-1", "question": "Which license?", "answer": null, "key_fact": null,'
        ' "document": null, "page": null, "kind": "unanswerable"}\n'
    )
    old, new = load_questions(path)
    assert old.answerable and old.page == 2 and old.key_fact is None
    assert not new.answerable and new.id == "x-1"
    path.write_text('{"question": "Why?"}\n')
    with pytest.raises(ScholarError, match=r'qa\.jsonl:1: each line needs "question"'):
        load_questions(path)
    path.write_text("")
    with pytest.raises(ScholarError, match="holds no questions"):
        load_questions(path)


def test_token_recall_normalizes_case_punctuation_and_articles() -> None:
    assert token_recall("The ash, and lava!", "lava and ASH flow") == 1.0
    assert token_recall("pointed arches", "flying buttresses and pointed roofs") == 0.5
    assert answer_tokens("A Gothic cathedral.") == {"gothic", "cathedral"}


def test_eval_qa_scores_ours_and_the_naive_baseline_through_the_real_model(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHOLAR_MAX_NEW_TOKENS", "24")
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    write_pdf(pdfs / "topics.pdf", TOPIC_PAGES)
    questions = tmp_path / "qa.jsonl"
    lines = [
        {"id": "v-1", "question": "What do volcanologists watch for to warn people?",
         "answer": "Earthquakes, ground swelling and sulfur dioxide emissions.",
         "key_fact": "sulfur dioxide emissions", "document": "topics.pdf", "page": 2,
         "kind": "factual"},
        {"id": "g-1", "question": "Which windows fill the nave of Gothic cathedrals with light?",
         "answer": "Stained glass and rose windows.", "key_fact": "rose windows",
         "document": "topics.pdf", "page": 3, "kind": "factual"},
        {"id": "u-1", "question": "Who won the 1998 Eurovision Song Contest?", "answer": None,
         "key_fact": None, "document": None, "page": None, "kind": "unanswerable"},
    ]  # fmt: skip
    questions.write_text("\n".join(json.dumps(line) for line in lines))
    assert main(["ingest", str(pdfs), "--collection", "nature"]) == 0
    capsys.readouterr()
    command = ["eval", "qa", str(questions), "--collection", "nature", "--baseline", "naive"]
    assert main([*command, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"ours", "naive"}
    for system in ("ours", "naive"):
        scores = report[system]
        assert (scores["questions"], scores["answerable"], scores["unanswerable"]) == (3, 2, 1)
        assert scores["evidence_hit_at_3"] == 1.0  # each page is about one chunk
        assert 0 < scores["ttft_after_retrieval_p50_ms"] <= scores["ttft_after_retrieval_p95_ms"]
        assert 0 < scores["latency_p50_ms"] <= scores["latency_p95_ms"]
        assert set(scores["by_kind"]) == {"factual"}
    assert report["naive"]["cited_page_any"] == 1.0  # its evidence: the top chunks' pages
    assert report["ours"]["cited_page_any"] == 1.0
    assert report["ours"]["abstention"] == 1.0  # nothing about Eurovision is close enough
