"""Retrieval quality on a BEIR-format set: our retriever against the plain baselines, same run.

All four share one ingestion (the normal `scholar ingest` path) and differ only in the
retrieval configuration: keyword (BM25) alone, dense alone, plain reciprocal-rank fusion, and
ours (fusion + pseudo-relevance feedback + near-duplicate removal, the retriever answers use).

    python bench/retrieval.py [BEIR_DIR] [--json]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.evaluate import evaluate_retrieval
from app.settings import Settings
from rag.retrieve import RetrievalConfig

DEFAULT_SET = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "beir" / "cranfield"
CONFIGS = {
    "BM25 (FTS5, Porter)": RetrievalConfig(use_dense=False, feedback_passages=0),
    "dense (MiniLM, exact)": RetrievalConfig(use_keyword=False, feedback_passages=0),
    "plain fusion (RRF k=60)": RetrievalConfig(feedback_passages=0),
    "llama-scholar (fusion + feedback)": RetrievalConfig(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("beir_dir", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    scores = evaluate_retrieval(args.beir_dir, Settings.from_env(), CONFIGS)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({name: score.to_json() for name, score in scores.items()}))
        return
    baseline = scores["plain fusion (RRF k=60)"].ndcg_at_10
    print(f"{args.beir_dir.name}: {next(iter(scores.values())).queries} queries, {elapsed:.0f} s\n")
    print(f"| {'retriever':<34} | nDCG@10 | Recall@100 | MRR@10 |    MAP | vs fusion |")
    print(f"|{'-' * 36}|---------|------------|--------|--------|-----------|")
    for name, score in scores.items():
        print(
            f"| {name:<34} | {score.ndcg_at_10:7.4f} | {score.recall_at_100:10.4f} "
            f"| {score.mrr_at_10:6.4f} | {score.map:6.4f} | {score.ndcg_at_10 / baseline:8.3f}x |"
        )


if __name__ == "__main__":
    main()
