from app.service import Scholar
from rag.retrieve import RetrievalConfig, Retriever, reciprocal_rank_fusion
from tests.conftest import TOPIC_PAGES, PdfMaker


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([[(1, 9.0), (2, 5.0)], [(2, 0.9), (3, 0.8)]], k=60)
    assert [chunk_id for chunk_id, _ in fused] == [2, 1, 3]
    assert fused[0][1] == 1 / 62 + 1 / 61


def test_an_exact_rare_term_is_found_by_the_keyword_side(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    code_page = [
        "Maintenance log. The coolant pump ZX-4471 was replaced after the pressure test "
        "showed a leak at the outlet flange."
    ]
    list(scholar.ingest([make_pdf("log.pdf", [*TOPIC_PAGES, code_page])]))
    collection = scholar.collection_id("default")
    keyword_only = Retriever(
        scholar.store, scholar.embedder, scholar.indexes, RetrievalConfig(use_dense=False)
    )
    assert keyword_only.retrieve("ZX-4471", collection, 1)[0].page_start == 5
    assert scholar.search("ZX-4471", k=1)[0].page_start == 5


def test_a_name_inside_a_longer_word_is_found_by_naming(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    table_page = ["Tables: P R F1. GrobidCRF 40.6 38.3 39.1. VILA 92.1 91.0 91.5. DEMOCRACY."]
    list(scholar.ingest([make_pdf("eval.pdf", [*TOPIC_PAGES, table_page])]))
    collection = scholar.collection_id("default")

    found = scholar.retriever.naming(["CRF"], collection, None, ranked_after=12)
    assert [(passage.page_start, passage.rank) for passage in found] == [(5, 13)]
    assert scholar.retriever.naming(["OCR"], collection, None, ranked_after=12) == []
    table = scholar.retriever.naming(["table"], collection, None, ranked_after=0)  # "Tables"
    assert [passage.page_start for passage in table] == [5]
    assert scholar.retriever.naming(["CRF"], collection, [999], ranked_after=12) == []


def test_the_earlier_pages_stating_a_tables_figures_are_found(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    filler = [
        f"Section {n} of the corpus description covers its sources in detail." for n in range(12)
    ]
    text_page = ["Our publisher-provided abstract coverage is 90.4%, or 73.4M papers.", *filler]
    table_page = ["Papers w/ publisher abstract 73.4M (90.4%). Papers w/ PDF 28.9M (35.6%)."]
    list(scholar.ingest([make_pdf("corpus.pdf", [*TOPIC_PAGES, text_page, table_page])]))
    [document] = scholar.documents()
    table = [passage for passage in scholar.search("publisher abstract") if passage.page_start == 6]
    assert len(table) == 1  # a chunk of its own

    found = scholar.retriever.stating(["73.4", "90.4"], document.id, 6, table)
    assert [(passage.page_start, passage.rank) for passage in found] == [(5, 2)]
    assert scholar.retriever.stating(["73.4", "90.4"], document.id, 5, table) == []  # later
    assert scholar.retriever.stating(["73.4", "35.6"], document.id, 6, table) == []  # not both
    assert scholar.retriever.stating(["73.4", "90.4"], document.id, 6, found) == []  # held


def test_near_duplicate_passages_are_returned_once(scholar: Scholar, make_pdf: PdfMaker) -> None:
    list(scholar.ingest([make_pdf("a.pdf", TOPIC_PAGES[:1]), make_pdf("b.pdf", TOPIC_PAGES)]))
    passages = scholar.search("photosynthesis chlorophyll sunlight", k=5)
    photosynthesis = [p for p in passages if "Chlorophyll" in p.text]
    assert len(photosynthesis) == 1
    assert len(passages) == 4  # b.pdf's four pages; a.pdf's copy of page 1 is dropped


def test_retrieval_can_be_limited_to_chosen_documents(scholar: Scholar, make_pdf: PdfMaker) -> None:
    first, second = scholar.ingest(
        [make_pdf("one.pdf", TOPIC_PAGES[:2]), make_pdf("two.pdf", TOPIC_PAGES[2:])]
    )
    passages = scholar.search("volcano lava", k=5, document_ids=[second.document_id])
    assert passages and {p.document_id for p in passages} == {second.document_id}
    assert scholar.search("volcano lava", k=1)[0].document_id == first.document_id


def test_similarity_separates_related_from_unrelated_questions(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    related = scholar.search("how do plants make sugar from light", k=1)[0]
    unrelated = scholar.search("what is the capital of Mongolia", k=1)[0]
    assert related.similarity > unrelated.similarity + 0.2
