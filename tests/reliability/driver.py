"""Test driver, run as a subprocess: ingest or search in a home folder, as the CLI would.

`python -m tests.reliability.driver ingest STAGE COLLECTION PATH...` prints `PAUSED STAGE` and
sleeps when it reaches STAGE, so the test can SIGKILL it exactly there ("none": never pauses).
The hooks live here, in test code; the product has none.
`python -m tests.reliability.driver search COLLECTION QUERY STOP_FILE` searches in a loop until
STOP_FILE exists.
Every outcome or result count is printed as one JSON line.
"""

import json
import sys
import time
from pathlib import Path

import faiss

from app.service import Scholar
from app.settings import Settings
from ingest.pipeline import Ingestor
from rag.vector_index import VectorIndex

PAUSE_SECONDS = 600
SEARCH_INTERVAL = 0.3  # a user asking now and then, not a CPU hog on a shared test machine


def pause(stage: str) -> None:
    print(f"PAUSED {stage}", flush=True)
    time.sleep(PAUSE_SECONDS)


def install_hook(stage: str) -> None:
    """Stages inside the pipeline (the others are seen through the progress callback)."""
    if stage == "original":  # the original is stored; no rows yet
        save = Ingestor._save_original

        def save_then_pause(self: Ingestor, prepared: object) -> None:
            save(self, prepared)
            pause(stage)

        Ingestor._save_original = save_then_pause
    elif stage == "index-write":  # rows stored; the new index is half on disk (temporary file)
        write = faiss.write_index

        def write_then_pause(index: faiss.Index, path: str) -> None:
            write(index, path)
            pause(stage)

        faiss.write_index = write_then_pause
    elif stage == "before-ready":  # rows and vectors stored; the document is still `indexing`
        add = VectorIndex.add

        def add_then_pause(self: VectorIndex, *args: object) -> None:
            add(self, *args)
            pause(stage)

        VectorIndex.add = add_then_pause


def ingest(stage: str, collection: str, paths: list[str]) -> None:
    install_hook(stage)

    def progress(step: str, done: int, total: int) -> None:
        if (step == stage == "read" and done == 2) or (step == stage == "embed" and done < total):
            pause(stage)

    scholar = Scholar(Settings.from_env())
    for outcome in scholar.ingest([Path(p) for p in paths], collection, progress=progress):
        print(json.dumps(outcome.to_json() | {"reason": outcome.reason}), flush=True)


def search(collection: str, query: str, stop_file: Path) -> None:
    scholar = Scholar(Settings.from_env())
    deadline = time.monotonic() + PAUSE_SECONDS
    while not stop_file.exists() and time.monotonic() < deadline:
        try:
            found = len(scholar.search(query, collection))
        except Exception as error:  # reported to the test, which fails on any
            print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
            raise
        print(json.dumps({"results": found}), flush=True)
        time.sleep(SEARCH_INTERVAL)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "ingest":
        ingest(arguments[0], arguments[1], arguments[2:])
    else:
        search(arguments[0], arguments[1], Path(arguments[2]))
