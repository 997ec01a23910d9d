from app.service import Scholar
from rag.keyword_index import feedback_terms, keyword_search, match_expression
from tests.conftest import TOPIC_PAGES, PdfMaker


def test_match_expression_quotes_content_words_and_drops_function_words() -> None:
    assert match_expression("What is the lift of a wing?") == '"lift" OR "wing"'
    assert match_expression("the of") == '"the" OR "of"'  # nothing but function words: keep them
    assert match_expression("  ?! ") == ""


def test_fts_syntax_in_a_query_is_treated_as_words() -> None:
    assert match_expression('wing" NOT lift* OR (NEAR') == '"wing" OR "lift" OR "near"'


def test_keyword_search_stems_and_ranks_within_the_collection(
    any_scholar: Scholar, make_pdf: PdfMaker
) -> None:
    scholar = any_scholar
    [volcano] = scholar.ingest([make_pdf("volcano.pdf", TOPIC_PAGES[1:2])], collection="geo")
    list(scholar.ingest([make_pdf("other.pdf", [*TOPIC_PAGES[1:2], ["Erupting."]])], "other"))
    collection = scholar.collection_id("geo")
    with scholar.store.session() as session:
        hits = keyword_search(session, "erupt volcanoes", collection, 10)
        assert len(hits) == 1 and hits[0][1] > 0  # "erupted"/"eruptions" and "volcano" stem
        assert keyword_search(session, "cathedral", collection, 10) == []
        assert keyword_search(session, "erupt", collection, 10, document_ids=[]) == []
        assert len(keyword_search(session, "erupt", collection, 10, [volcano.document_id])) == 1


def test_query_syntax_and_quotes_are_plain_words(any_scholar: Scholar, make_pdf: PdfMaker) -> None:
    list(any_scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    collection = any_scholar.collection_id("default")
    with any_scholar.store.session() as session:
        for hostile in ['lava" OR "x', "lava' || ':*", "lava & !(", "lava); DROP TABLE chunks;--"]:
            assert len(keyword_search(session, hostile, collection, 10)) == 1
    assert len(any_scholar.search("volcanic eruption lava")) > 0


def test_feedback_expansion_finds_passages_without_the_query_words(
    any_scholar: Scholar, make_pdf: PdfMaker
) -> None:
    scholar = any_scholar
    list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    collection = scholar.collection_id("default")
    with scholar.store.session() as session:
        [(top, _)] = keyword_search(session, "chlorophyll", collection, 1)
        passage = next(p.text for p in scholar.search("chlorophyll", k=1))
        terms = feedback_terms(session, "chlorophyll", [(passage, 1.0)], 5)
        assert len(terms) == 5 and "chlorophyl" not in terms
        expanded = keyword_search(session, "chlorophyll", collection, 10, expansion=terms)
    assert expanded[0][0] == top


def test_deleted_chunks_leave_the_keyword_index(any_scholar: Scholar, make_pdf: PdfMaker) -> None:
    [kept] = any_scholar.ingest([make_pdf("kept.pdf", TOPIC_PAGES[:1])])
    [outcome] = any_scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)])
    collection = any_scholar.collection_id("default")
    any_scholar.delete_document(outcome.document_id)
    with any_scholar.store.session() as session:
        assert keyword_search(session, "volcano cathedral offside", collection, 10) == []
        assert len(keyword_search(session, "photosynthesis", collection, 10)) == 1
    assert kept.status == "ingested"
