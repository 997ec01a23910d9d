"""Answer quality on the development QA set: ours against the naive RAG baseline, same run.

Ingests the shared papers into a temporary home, then asks every question of
bench/data/papers_qa.jsonl of our answerer and, right after it, of the naive baseline (top-4
chunks in one prompt, the same model, its output unchecked; `rag.naive`). Prints one table:
evidence hit@3, key fact in the model's words, answer recall, cited page, abstention, latency
(p50 and p95). One warm-up question, untimed, loads the models first.

    python bench/answer_quality.py [--papers PDF_OR_FOLDER ...] [--questions FILE] [--limit N]
        [--details FILE] [--json]

The cross-check set bench/data/vicksburg_qa.jsonl is asked over the Vicksburg diary and the two
papers together (`--papers ../shared/data/pdfs/papers
../shared/data/pdfs/tricky/Seige_of_Vicksburg_Sample_OCR.pdf`).
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.evaluate_qa import NAIVE, evaluate_qa, report_table
from app.service import Scholar
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAPERS = ROOT / ".." / "shared" / "data" / "pdfs" / "papers"
DEFAULT_QUESTIONS = ROOT / "bench" / "data" / "papers_qa.jsonl"
COLLECTION = "papers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--papers", type=Path, nargs="+", default=[DEFAULT_PAPERS], help="PDFs or folders"
    )
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--details", type=Path, help="write each answer's scores here (JSONL)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scholar-bench-") as home:
        questions = Path(home) / "questions.jsonl"
        lines = [line for line in args.questions.read_text().splitlines() if line.strip()]
        questions.write_text("\n".join(lines[: args.limit]) + "\n")
        settings = Settings.from_env({**os.environ, "SCHOLAR_HOME": home})
        scholar = Scholar(dataclasses.replace(settings, db_url=f"sqlite:///{home}/bench.db"))
        list(scholar.ingest(args.papers, COLLECTION))
        scholar.ask(json.loads(lines[0])["question"], COLLECTION).result()  # warm-up
        report = evaluate_qa(questions, scholar, COLLECTION, baseline=NAIVE)
        scholar.store.dispose()
    if args.details:
        with open(args.details, "w") as details:
            for system, results in report.results.items():
                for result in results:
                    row = {"system": system} | dataclasses.asdict(result)
                    details.write(json.dumps(row) + "\n")
    if args.json:
        print(json.dumps(report.to_json()))
        return
    ours = report.scores["ours"]
    print(
        f"{ours.questions} questions ({ours.answerable} answerable, {ours.unanswerable} "
        f"unanswerable) over {', '.join(pdf.name for pdf in _pdfs(args.papers))}; "
        f"{os.cpu_count()} CPUs, {settings.max_new_tokens} new tokens at most\n"
    )
    print(report_table(report))


def _pdfs(paths: list[Path]) -> list[Path]:
    return sorted(
        pdf for path in paths for pdf in (path.glob("*.pdf") if path.is_dir() else [path])
    )


if __name__ == "__main__":
    main()
