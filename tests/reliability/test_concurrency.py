"""Two processes ingest into one collection (some files in both) while a third searches."""

import json
import subprocess

from app.service import Scholar
from tests.conftest import TOPIC_PAGES, PdfMaker
from tests.reliability.common import invariant_violations, start_driver, wait_for_line


def outcomes(process: subprocess.Popen[str]) -> list[dict]:
    out, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors[-3000:]
    assert "database is locked" not in errors
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_two_ingesters_and_a_searcher_share_one_collection(
    scholar: Scholar, make_pdf: PdfMaker, tmp_path
) -> None:
    [earlier] = scholar.ingest([make_pdf("earlier.pdf", [TOPIC_PAGES[0]])], "shared")
    files = [
        make_pdf(f"report-{n}.pdf", [[f"Survey report number {n}.", *TOPIC_PAGES[n % 4]]])
        for n in range(6)
    ]
    home, stop = scholar.settings.home, tmp_path / "stop"
    searcher = start_driver(home, "search", "shared", "volcanic eruption lava", str(stop))
    wait_for_line(searcher, '{"results"')
    first = start_driver(home, "ingest", "none", "shared", *map(str, files[:4]))
    second = start_driver(home, "ingest", "none", "shared", *map(str, files[2:]))
    results = outcomes(first) + outcomes(second)
    stop.touch()
    searched = outcomes(searcher)

    assert all("error" not in line for line in searched) and len(searched) > 1
    assert {line["status"] for line in results} <= {"ingested", "duplicate"}
    ingested = sorted(line["path"] for line in results if line["status"] == "ingested")
    assert ingested == sorted(map(str, files))  # each file stored once, by one of the two
    documents = scholar.documents("shared")
    assert sorted(d.filename for d in documents) == ["earlier.pdf"] + [f.name for f in files]
    assert {d.status for d in documents} == {"ready"}
    assert earlier.document_id in {d.id for d in documents}
    assert invariant_violations(scholar) == []
    assert len(scholar.search("offside rule referee", "shared", k=10)) >= 2
