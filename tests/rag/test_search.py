import pytest

from app.service import Scholar
from tests.conftest import TOPIC_PAGES, PdfMaker


@pytest.mark.parametrize(
    ("query", "page"),
    [
        ("how do plants turn sunlight into sugar", 1),
        ("molten rock and ash erupting from a mountain", 2),
        ("stone vaults and buttresses in medieval churches", 3),
        ("when is an attacker offside in soccer", 4),
    ],
)
def test_distinctive_queries_rank_the_right_page_first(
    scholar: Scholar, make_pdf: PdfMaker, query: str, page: int
) -> None:
    [outcome] = scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)], collection="science")
    best = scholar.search(query, collection="science", k=4)[0]
    assert (best.page_start, best.page_end) == (page, page)
    assert best.document_id == outcome.document_id
    assert best.rank == 1 and best.filename == "topics.pdf"


def test_results_are_ranked_by_score_and_limited_to_k(scholar: Scholar, make_pdf: PdfMaker) -> None:
    list(scholar.ingest([make_pdf("a.pdf", TOPIC_PAGES[:2]), make_pdf("b.pdf", TOPIC_PAGES[2:])]))
    passages = scholar.search("volcano lava", k=2)
    assert [p.rank for p in passages] == [1, 2]
    assert passages[0].score >= passages[1].score
    assert scholar.search("   ") == []


def test_search_stays_inside_its_collection(scholar: Scholar, make_pdf: PdfMaker) -> None:
    list(scholar.ingest([make_pdf("plants.pdf", TOPIC_PAGES[:1])], collection="botany"))
    list(scholar.ingest([make_pdf("rocks.pdf", TOPIC_PAGES[1:2])], collection="geology"))
    assert {p.filename for p in scholar.search("lava", collection="botany")} == {"plants.pdf"}
