"""SIGKILL an ingest at each stage: the store and the indexes still agree, nothing ingested
earlier is lost, the file ingests again, and `scholar doctor --repair` clears the leftovers."""

import argparse
import json
import signal

import pytest

from app.cli_reliability import add_reliability_commands
from app.doctor import Doctor, ProblemKind
from app.service import Scholar
from ingest.outcomes import IngestStatus
from tests.conftest import TOPIC_PAGES, PdfMaker
from tests.reliability.common import invariant_violations, start_driver, wait_for_line

EXTRA_PAGES = [
    ["Glaciers carve U-shaped valleys over thousands of years, leaving moraines behind."],
    ["Tides follow the moon: the ocean bulges towards it and away from it twice a day."],
]
# What the killed ingest leaves for the doctor at each stage (a SIGKILL runs no clean-up).
LEFTOVERS = {
    "read": set(),
    "embed": set(),
    "original": {ProblemKind.ORPHAN_ORIGINAL},
    "index-write": {ProblemKind.STUCK_INDEXING, ProblemKind.LEFTOVER_TEMPORARY},
    "before-ready": {ProblemKind.STUCK_INDEXING, ProblemKind.INDEX_MISMATCH},
}


def doctor_cli(scholar: Scholar, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_reliability_commands(parser.add_subparsers())
    args = parser.parse_args(["doctor", "--json", *argv])
    code = args.handler(args, scholar)
    report = json.loads(capsys.readouterr().out)
    assert code == (1 if report["unresolved"] else 0)
    return report


@pytest.mark.parametrize("stage", list(LEFTOVERS))
def test_an_ingest_killed_at_any_stage_leaves_a_consistent_home(
    stage: str, scholar: Scholar, make_pdf: PdfMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    [earlier] = scholar.ingest([make_pdf("earlier.pdf", TOPIC_PAGES[:2])])
    interrupted = make_pdf("interrupted.pdf", [*TOPIC_PAGES[2:], *EXTRA_PAGES])  # 4 chunks

    # Batches of 2 chunks, so the embedding stage has a middle to be killed in.
    driver = start_driver(
        scholar.settings.home, "ingest", stage, "default", str(interrupted), SCHOLAR_EMBED_BATCH="2"
    )
    wait_for_line(driver, f"PAUSED {stage}")
    driver.send_signal(signal.SIGKILL)
    assert driver.wait(timeout=30) == -signal.SIGKILL

    assert invariant_violations(scholar) == []
    assert [d.filename for d in scholar.documents()] == ["earlier.pdf"]
    assert [p.document_id for p in scholar.search("photosynthesis chlorophyll", k=1)] == [
        earlier.document_id
    ]
    found = doctor_cli(scholar, capsys)
    assert {problem["kind"] for problem in found["problems"]} == set(LEFTOVERS[stage])

    [again] = scholar.ingest([interrupted])
    assert again.status == IngestStatus.INGESTED, again.error
    assert invariant_violations(scholar) == []
    repaired = doctor_cli(scholar, capsys, "--repair")
    assert repaired["unresolved"] == 0
    assert doctor_cli(scholar, capsys) == {
        "healthy": True,
        "repaired": False,
        "unresolved": 0,
        "problems": [],
    }
    assert {d.filename for d in scholar.documents()} == {"earlier.pdf", "interrupted.pdf"}
    assert scholar.search("offside rule assistant referee", k=1)[0].document_id == again.document_id


def test_the_doctor_rebuilds_a_lost_or_damaged_index_from_the_store(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    [outcome] = scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)])
    index = scholar.indexes.for_collection(scholar.collection_id("default"))
    index.path.write_bytes(b"IxM2 truncated")
    doctor = Doctor(scholar.store, scholar.indexes, scholar.settings.files_dir)
    report = doctor.check_at_start()
    assert [p.kind for p in report.problems] == [ProblemKind.UNREADABLE_INDEX]
    assert report.repaired and doctor.check().healthy
    assert scholar.search("gothic cathedral", k=1)[0].document_id == outcome.document_id

    (scholar.settings.index_dir / "99").mkdir()
    index.path.unlink()
    kinds = {p.kind for p in doctor.check().problems}
    assert kinds == {ProblemKind.INDEX_MISMATCH, ProblemKind.STRAY_INDEX}
    assert doctor.check(repair=True).repaired and doctor.check().healthy
    assert len(index) == outcome.chunks
