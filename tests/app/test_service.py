"""The service facade: what a stored answer's citation opens after its document changed."""

from pathlib import Path

import pytest

from app.records import ScholarError
from app.service import Scholar
from app.settings import Settings
from tests.conftest import TOPIC_PAGES, PdfMaker

QUOTE = "Volcanologists watch for earthquakes, ground swelling and sulfur dioxide emissions"


def test_a_citation_opens_its_document_or_the_same_file_added_again(
    settings: Settings, make_pdf: PdfMaker, tmp_path: Path
) -> None:
    scholar = Scholar(settings)
    pdf = make_pdf("topics.pdf", TOPIC_PAGES)
    (first,) = scholar.ingest([pdf])
    assert first.document_id is not None
    assert scholar.cited_document(first.document_id, "topics.pdf", QUOTE) == first.document_id

    scholar.delete_document(first.document_id)
    with pytest.raises(ScholarError, match=r"topics\.pdf was deleted .* add the file again"):
        scholar.cited_document(first.document_id, "topics.pdf", QUOTE)

    (tmp_path / "elsewhere").mkdir()
    glaciers = [["A different paper about glaciers, and the valleys that glaciers carve."]]
    other = make_pdf("elsewhere/topics.pdf", glaciers)
    (unrelated,) = scholar.ingest([other], collection="other")
    assert unrelated.document_id not in (None, first.document_id)  # ids are not reused
    with pytest.raises(ScholarError, match="was deleted"):  # same name, but not the quote
        scholar.cited_document(first.document_id, "topics.pdf", QUOTE)

    (again,) = scholar.ingest([pdf])
    assert again.document_id not in (None, first.document_id, unrelated.document_id)
    assert scholar.cited_document(first.document_id, "topics.pdf", QUOTE) == again.document_id
    scholar.store.dispose()
