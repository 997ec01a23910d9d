"""Ingestion throughput: ours against a naive reference pipeline, on the same PDFs, same run.

Ours: the full `scholar ingest` path (parse, clean, chunk, embed, store + index) into a fresh
home. Reference: what a minimal RAG loader does (pypdf `extract_text` per page, fixed
1,000-character splits, sentence-transformers `encode` with the same model, FAISS flat index),
with no cleaning, page spans, storage or de-duplication. Medians over --runs runs.

    python bench/ingest.py [PATH ...] [--runs 3] [--json]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faiss
import pypdf

from app.service import Scholar, expand_paths
from app.settings import Settings
from ingest.outcomes import IngestStatus

DEFAULT_PAPERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pdfs" / "papers"
STAGES = ("read", "chunk", "embed", "index")


def run_ours(paths: list[Path]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        scholar = Scholar(Settings.from_env({**os.environ, "SCHOLAR_HOME": home}))
        totals = dict.fromkeys(STAGES, 0.0) | {"pages": 0, "chunks": 0}
        started = time.perf_counter()
        for outcome in scholar.ingest(paths):
            if outcome.status != IngestStatus.INGESTED:
                raise SystemExit(f"{outcome.source}: {outcome.status} {outcome.error or ''}")
            for stage in STAGES:
                totals[stage] += outcome.seconds[stage]
            totals["pages"] += outcome.pages or 0
            totals["chunks"] += outcome.chunks or 0
        totals["total"] = time.perf_counter() - started
        scholar.store.dispose()
    return totals


def run_reference(paths: list[Path], scholar: Scholar) -> dict[str, float]:
    started = time.perf_counter()
    texts, pages = [], 0
    for path in paths:
        reader = pypdf.PdfReader(path)
        pages += len(reader.pages)
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
        texts += [text[i : i + 1000] for i in range(0, len(text), 800)]  # 200 chars overlap
    vectors = scholar.embedder.model.encode(texts, batch_size=32, normalize_embeddings=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return {"total": time.perf_counter() - started, "pages": pages, "chunks": len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_PAPERS])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    paths = expand_paths(args.paths)
    if not paths:
        raise SystemExit(f"no supported files under {', '.join(map(str, args.paths))}")

    with tempfile.TemporaryDirectory() as home:  # load the embedder once, outside the timings
        warm = Scholar(Settings.from_env({**os.environ, "SCHOLAR_HOME": home}))
        warm.embedder.embed(["warm up"])
        ours = [run_ours(paths) for _ in range(args.runs)]
        reference = [run_reference(paths, warm) for _ in range(args.runs)]

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    ours_total, reference_total = median(ours, "total"), median(reference, "total")
    pages, chunks = ours[0]["pages"], ours[0]["chunks"]
    result = {
        "files": len(paths),
        "pages": pages,
        "chunks": chunks,
        "seconds": ours_total,
        "pages_per_s": pages / ours_total,
        "chunks_per_s": chunks / ours_total,
        "stages_s": {stage: median(ours, stage) for stage in STAGES},
        "reference_seconds": reference_total,
        "reference_chunks": reference[0]["chunks"],
        "time_ratio_vs_reference": ours_total / reference_total,
        "runs": args.runs,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{len(paths)} files, {pages} pages, median of {args.runs} runs, {os.cpu_count()} CPUs\n")
    print(f"| {'stage':<22} | {'seconds':>8} | {'share':>6} |")
    print(f"|{'-' * 24}|{'-' * 10}|{'-' * 8}|")
    for stage, seconds in result["stages_s"].items():
        print(f"| {stage:<22} | {seconds:>8.2f} | {seconds / ours_total:>6.1%} |")
    print(f"| {'total (ours)':<22} | {ours_total:>8.2f} | {'':>6} |\n")
    print(
        f"| {'pipeline':<34} | {'seconds':>8} | {'pages/s':>8} | {'chunks':>6} | {'chunks/s':>8} |"
    )
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 8}|{'-' * 10}|")
    rows = [
        ("llama-scholar ingest", ours_total, chunks),
        ("reference (naive loader)", reference_total, reference[0]["chunks"]),
    ]
    for name, seconds, count in rows:
        print(
            f"| {name:<34} | {seconds:>8.2f} | {pages / seconds:>8.1f} | {count:>6} "
            f"| {count / seconds:>8.1f} |"
        )
    print(f"\ntime ratio ours / reference: {result['time_ratio_vs_reference']:.2f}")


if __name__ == "__main__":
    main()
