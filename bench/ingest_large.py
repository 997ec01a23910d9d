"""Ingesting one large PDF (by default the 619-page DA-619p.pdf) into a fresh home: time per
stage and peak memory (resident set size of this process, model loading included).

    python bench/ingest_large.py [PDF] [--json]

Target: peak RSS under 1.5 GB.
"""

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.service import Scholar
from app.settings import Settings
from ingest.outcomes import IngestStatus

DEFAULT_PDF = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "pdfs"
    / "tricky"
    / "DA-619p.pdf"
)
TARGET_MB = 1536


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", nargs="?", type=Path, default=DEFAULT_PDF)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.pdf.is_file():
        raise SystemExit(f"{args.pdf}: not found (the shared test data sits beside the repo)")
    with tempfile.TemporaryDirectory() as home:
        scholar = Scholar(Settings.from_env({**os.environ, "SCHOLAR_HOME": home}))
        scholar.embedder.embed(["warm-up"])
        before = peak_rss_mb()
        started = time.perf_counter()
        [outcome] = scholar.ingest([args.pdf])
        total = time.perf_counter() - started
        scholar.store.dispose()
    if outcome.status != IngestStatus.INGESTED:
        raise SystemExit(f"{args.pdf}: {outcome.status} {outcome.error}")
    result = {
        "file": args.pdf.name,
        "pages": outcome.pages,
        "chunks": outcome.chunks,
        "seconds": round(total, 1),
        **{f"{stage}_s": round(value, 1) for stage, value in outcome.seconds.items()},
        "rss_before_mb": round(before),
        "peak_rss_mb": round(peak_rss_mb()),
        "target_mb": TARGET_MB,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<14} {value}")
    return 0 if result["peak_rss_mb"] < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
