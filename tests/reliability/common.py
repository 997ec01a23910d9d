"""Helpers for the reliability tests: driver subprocesses and the store/index invariants."""

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select as sql_select

from app.service import Scholar
from rag.store import Chunk, Collection, Document, DocumentStatus

REPO = Path(__file__).resolve().parents[2]


def start_driver(home: Path, *arguments: str, **environment: str) -> subprocess.Popen[str]:
    env = os.environ | {"SCHOLAR_HOME": str(home)} | environment
    env.pop("SCHOLAR_DB_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.driver", *arguments],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float = 180) -> str:
    """The first stdout line starting with `prefix`; fails if the process ends or times out."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if line.startswith(prefix):
                return line
            if not line:
                break
    process.kill()
    _, errors = process.communicate()
    raise AssertionError(f"driver never printed {prefix!r}; stderr:\n{errors[-3000:]}")


def invariant_violations(scholar: Scholar) -> list[str]:
    """What must hold at every instant, crash or not: every vector belongs to a stored chunk of
    its collection, every chunk of a ready document has a vector, and every ready document has
    all its chunks."""
    violations = []
    with scholar.store.session() as session:
        collections = session.scalars(sql_select(Collection.id)).all()
        rows = session.execute(
            sql_select(Document.collection_id, Document.id, Document.status, Chunk.id).outerjoin(
                Chunk, Chunk.document_id == Document.id
            )
        ).all()
        expected = dict(
            session.execute(
                sql_select(Document.id, Document.chunk_count).where(
                    Document.status == DocumentStatus.READY
                )
            ).all()
        )
    for collection_id in collections:
        vectors = set(scholar.indexes.for_collection(collection_id).ids().tolist())
        stored = {chunk for c, _, _, chunk in rows if c == collection_id and chunk is not None}
        ready = {
            chunk
            for c, _, status, chunk in rows
            if c == collection_id and status == DocumentStatus.READY and chunk is not None
        }
        if vectors - stored:
            violations.append(f"collection {collection_id}: vectors without chunks")
        if ready - vectors:
            violations.append(f"collection {collection_id}: ready chunks without vectors")
    for document_id, count in expected.items():
        found = sum(1 for _, d, _, chunk in rows if d == document_id and chunk is not None)
        if found != count:
            violations.append(f"document {document_id}: {found} of {count} chunks")
    return violations
