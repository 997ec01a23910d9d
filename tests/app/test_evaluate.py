import json
import math
from pathlib import Path

import pytest

from app.cli import main
from app.evaluate import (
    average_precision,
    evaluate_retrieval,
    load_beir,
    ndcg_at,
    recall_at,
    reciprocal_rank_at,
)
from app.service import ScholarError
from app.settings import Settings
from tests.conftest import TOPIC_PAGES


def test_metrics_on_a_hand_computed_ranking() -> None:
    judged = {"a": 2, "b": 1, "c": 0}
    ranked = ["x", "a", "y", "b"]
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at(ranked, judged, 10) == pytest.approx(
        (2 / math.log2(3) + 1 / math.log2(5)) / ideal
    )
    assert ndcg_at(["a", "b"], judged, 10) == pytest.approx(1.0)
    assert recall_at(ranked, judged, 2) == 0.5
    assert recall_at(ranked, judged, 100) == 1.0
    assert reciprocal_rank_at(ranked, judged, 10) == 0.5
    assert reciprocal_rank_at(ranked, judged, 1) == 0.0
    assert average_precision(ranked, judged) == pytest.approx((1 / 2 + 2 / 4) / 2)


def write_beir(folder: Path, qrels: str = "query-id\tcorpus-id\tscore\n") -> Path:
    (folder / "qrels").mkdir(parents=True)
    topics = ["photosynthesis", "volcanoes", "cathedrals", "offside"]
    with open(folder / "corpus.jsonl", "w") as corpus:
        for topic, paragraphs in zip(topics, TOPIC_PAGES, strict=True):
            corpus.write(
                json.dumps({"_id": topic, "title": topic.title(), "text": " ".join(paragraphs)})
                + "\n"
            )
        corpus.write(json.dumps({"_id": "blank", "title": "", "text": ""}) + "\n")
    questions = {
        "q1": "How do leaves turn light into sugar?",
        "q2": "What makes magma rise and erupt?",
        "q3": "Why could medieval churches have such large windows?",
        "q4": "unjudged question",
    }
    with open(folder / "queries.jsonl", "w") as queries:
        for query_id, text in questions.items():
            queries.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        qrels + "q1\tphotosynthesis\t2\nq2\tvolcanoes\t2\nq3\tcathedrals\t1\n"
    )
    return folder


def test_a_small_beir_set_is_scored_through_the_real_pipeline(
    settings: Settings, tmp_path: Path
) -> None:
    folder = write_beir(tmp_path / "beir")
    [scores] = evaluate_retrieval(folder, settings).values()
    assert scores.queries == 3
    assert scores.ndcg_at_10 == pytest.approx(1.0)
    assert scores.mrr_at_10 == scores.map == scores.recall_at_100 == pytest.approx(1.0)
    assert not settings.home.exists() or not (settings.home / "index").exists()


def test_eval_retrieval_command_prints_the_metrics_as_json(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_beir(tmp_path / "beir", qrels="")
    assert main(["eval", "retrieval", str(folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"ndcg@10", "recall@100", "mrr@10", "map", "queries"}
    assert result["queries"] == 3 and result["ndcg@10"] == pytest.approx(1.0)


def test_a_folder_that_is_not_beir_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScholarError, match=r"corpus\.jsonl is missing"):
        load_beir(tmp_path)
    folder = write_beir(tmp_path / "bad")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "ok"}\nnot json\n')
    with pytest.raises(ScholarError, match=r"queries\.jsonl:2: not valid JSON"):
        load_beir(folder)
