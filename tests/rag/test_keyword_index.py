from sqlalchemy import text

from app.service import Scholar
from rag.keyword_index import keyword_search, match_expression
from tests.conftest import TOPIC_PAGES, PdfMaker


def test_match_expression_quotes_content_words_and_drops_function_words() -> None:
    assert match_expression("What is the lift of a wing?") == '"lift" OR "wing"'
    assert match_expression("the of") == '"the" OR "of"'  # nothing but function words: keep them
    assert match_expression("  ?! ") == ""


def test_fts_syntax_in_a_query_is_treated_as_words() -> None:
    assert match_expression('wing" NOT lift* OR (NEAR') == '"wing" OR "lift" OR "near"'


def test_keyword_search_stems_and_ranks_within_the_collection(
    scholar: Scholar, make_pdf: PdfMaker
) -> None:
    [volcano] = scholar.ingest([make_pdf("volcano.pdf", TOPIC_PAGES[1:2])], collection="geo")
    list(scholar.ingest([make_pdf("other.pdf", [*TOPIC_PAGES[1:2], ["Erupting."]])], "other"))
    collection = scholar.collection_id("geo")
    with scholar.store.session() as session:
        hits = keyword_search(session, "erupt volcanoes", collection, 10)
        assert len(hits) == 1 and hits[0][1] > 0  # "erupted"/"eruptions" and "volcano" stem
        assert keyword_search(session, "cathedral", collection, 10) == []
        assert keyword_search(session, "erupt", collection, 10, document_ids=[]) == []
        assert len(keyword_search(session, "erupt", collection, 10, [volcano.document_id])) == 1


def test_deleted_chunks_leave_the_keyword_index(scholar: Scholar, make_pdf: PdfMaker) -> None:
    [outcome] = scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)])
    scholar.delete_document(outcome.document_id)
    with scholar.store.session() as session:
        count = session.execute(
            text("SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH 'photosynthesis'")
        ).scalar()
    assert count == 0
