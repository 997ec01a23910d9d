import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.service import Scholar
from app.settings import Settings
from rag.summarize import Summary, SummaryPoint, SummarySection, store_summary
from tests.conftest import TOPIC_PAGES, TRICKY, PdfMaker, require_shared, write_pdf


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ingest_search_docs_delete_round_trip(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    write_pdf(folder / "topics.pdf", TOPIC_PAGES)

    code, out, _ = run(capsys, "ingest", str(folder), "--collection", "notes")
    assert code == 0
    assert "ingested" in out and "topics.pdf: 4 pages, 4 chunks (document 1)" in out
    assert "notes: 1 ingested, 0 duplicate, 0 failed" in out

    code, out, _ = run(capsys, "ingest", str(folder), "--collection", "notes", "--json")
    assert code == 0
    [line] = out.splitlines()
    assert json.loads(line) == {
        "path": str(folder / "topics.pdf"),
        "status": "duplicate",
        "document_id": 1,
        "pages": 4,
        "chunks": 4,
        "error": None,
        "duplicate_of": "topics.pdf",
        "note": "",
        "ocr_pages": 0,
    }

    code, out, _ = run(
        capsys, "search", "flying buttresses", "--collection", "notes", "-k", "2", "--json"
    )
    results = json.loads(out)["results"]
    assert code == 0 and len(results) == 2
    assert set(results[0]) == {
        "rank", "score", "similarity", "document_id", "filename", "title", "page_start",
        "page_end", "text",
    }  # fmt: skip
    assert (results[0]["rank"], results[0]["page_start"], results[0]["page_end"]) == (1, 3, 3)
    assert "flying buttresses" in results[0]["text"]

    code, out, _ = run(capsys, "search", "flying buttresses", "--collection", "notes")
    assert out.startswith("1. [") and "(topics.pdf, p. 3)" in out

    code, out, _ = run(capsys, "docs", "--collection", "notes", "--json")
    [document] = json.loads(out)["documents"]
    assert {k: document[k] for k in ("id", "filename", "pages", "chunks", "status")} == {
        "id": 1, "filename": "topics.pdf", "pages": 4, "chunks": 4, "status": "ready"
    }  # fmt: skip
    assert document["title"]

    code, out, _ = run(capsys, "collections", "--json")
    assert json.loads(out) == {"collections": [{"name": "notes", "documents": 1, "chunks": 4}]}

    code, out, _ = run(capsys, "delete", "1")
    assert code == 0 and "deleted document 1 (topics.pdf)" in out
    code, out, _ = run(capsys, "docs", "--collection", "notes", "--json")
    assert json.loads(out) == {"documents": []}


def test_ingest_exits_1_when_a_file_fails_and_keeps_the_rest(
    settings: Settings, make_pdf: PdfMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_pdf("good.pdf", TOPIC_PAGES[:1])
    locked = require_shared(TRICKY / "password.pdf")
    code, out, _ = run(capsys, "ingest", str(good), str(locked), "--json")
    assert code == 1
    by_name = {Path(o["path"]).name: o for o in map(json.loads, out.splitlines())}
    assert by_name["good.pdf"]["status"] == "ingested"
    assert by_name["password.pdf"]["status"] == "failed"
    assert by_name["password.pdf"]["error"].startswith("password required")
    assert by_name["password.pdf"]["document_id"] is None

    code, out, _ = run(capsys, "ingest", str(locked), "--password", "password")
    assert code == 0 and "ingested" in out


def test_errors_are_one_clear_line_with_exit_code_2(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "search", "anything", "--collection", "nope")
    assert code == 2
    assert err.strip() == (
        "scholar: error: no collection named 'nope'; `scholar collections` lists them, "
        "and `scholar ingest --collection NAME` creates one"
    )
    code, _, err = run(capsys, "delete", "99")
    assert code == 2 and "no document with id 99" in err
    code, _, err = run(capsys, "summarize", "99")
    assert code == 2 and "no ready document with id 99" in err


def test_a_stored_summary_prints_with_pages_and_says_what_it_lacks(
    settings: Settings, make_pdf: PdfMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(capsys, "ingest", str(make_pdf("topics.pdf", TOPIC_PAGES)))
    assert code == 0
    scholar = Scholar(settings)
    summary = Summary(
        1,
        "The pages describe four unrelated topics in turn.",
        [1],
        [
            SummarySection("Problem", [SummaryPoint("Volcanoes erupt with little warning.", [2])]),
            SummarySection("Method", []),
            SummarySection("Key results", []),
            SummarySection("Limitations", []),
        ],
    )
    with scholar.store.session() as session:
        store_summary(session, summary, scholar.model_key)
    scholar.store.dispose()

    code, out, _ = run(capsys, "summarize", "1")

    assert code == 0
    assert out.startswith("TL;DR: The pages describe four unrelated topics in turn. (p. 1)")
    assert "Problem\n  - Volcanoes erupt with little warning. (p. 2)" in out
    assert out.count("(Nothing on this in the document.)") == 3


def test_the_console_script_runs_offline(settings: Settings, make_pdf: PdfMaker) -> None:
    scholar = Path(sys.executable).parent / "scholar"
    pdf = make_pdf("topics.pdf", TOPIC_PAGES)
    environment = {**os.environ, "SCHOLAR_HOME": str(settings.home), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [str(scholar), "ingest", str(pdf)], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert "1 ingested" in result.stdout
    assert "Traceback" not in result.stderr


def test_ask_streams_then_prints_sources_or_json(
    settings: Settings,
    make_pdf: PdfMaker,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHOLAR_MAX_NEW_TOKENS", "32")
    run(capsys, "ingest", str(make_pdf("topics.pdf", TOPIC_PAGES)))
    code, out, _ = run(capsys, "ask", "Why could Gothic cathedrals have large windows?", "--json")
    answer = json.loads(out)
    assert code == 0
    assert set(answer) == {
        "answer", "answer_marked", "found", "citations", "evidence", "unsupported_sentences",
        "retrieved", "timings", "conversation_id", "quoted", "asked_again",
    }  # fmt: skip
    assert set(answer["timings"]) == {
        "retrieve_ms", "prompt_ms", "prefill_ms", "ttft_ms", "total_ms", "tokens_per_s"
    }  # fmt: skip
    assert set(answer["evidence"][0]) == {"n", "document_id", "filename", "title", "page", "quote"}
    assert answer["evidence"][0]["page"] == 3

    code, out, _ = run(capsys, "ask", "Who won the 1998 Eurovision Song Contest?")
    assert code == 0
    assert out.startswith("I could not find an answer to this in the documents.")
    assert "(topics.pdf, p." in out
