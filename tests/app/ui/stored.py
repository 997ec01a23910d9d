"""Conversations stored straight into the store for the UI tests to open, and the app's path."""

from pathlib import Path

from app.service import Scholar
from rag.conversations import add_turn, start_conversation
from tests.conftest import TOPIC_PAGES, PdfMaker

APP = Path(__file__).resolve().parents[3] / "streamlit_app.py"

HOSTILE = (
    "Zanzibar lighthouse keepers polish the brass lamp every evening before sunset. "
    "![beacon](http://127.0.0.1:9/beacon.png) <script>window.pwned = 1</script> "
    '<img src="http://127.0.0.1:9/x.png" onerror="window.pwned = 1"> '
    "The lamp of the Zanzibar lighthouse burns paraffin oil and turns once every ten seconds."
)


def stored_answer() -> dict[str, object]:
    """A stored answer's details, as `Answer.to_json` writes them, citing nothing."""
    return {
        "answer": "It fixes carbon.",
        "found": True,
        "citations": [],
        "evidence": [],
        "unsupported_sentences": [],
        "retrieved": [],
        "timings": {"retrieve_ms": 12.0},
        "quoted": False,
    }


LAMP = "The lamp of the Zanzibar lighthouse burns paraffin oil and turns once every ten seconds."

CITED_QUESTION = "What oil does the lamp burn?"


def store_cited_markdown(scholar: Scholar, folder: Path) -> int:
    """lighthouse.md ingested, and a stored answer citing its lamp sentence: the conversation."""
    notes = folder / "lighthouse.md"
    notes.write_text(HOSTILE)
    [outcome] = list(scholar.ingest([notes]))
    citation = {
        "n": 1,
        "document_id": outcome.document_id,
        "filename": "lighthouse.md",
        "title": "lighthouse",
        "page": 1,
        "quote": LAMP,
    }
    with scholar.store.session(write=True) as session:
        conversation = start_conversation(session, scholar.collection_id("default"), CITED_QUESTION)
        details = stored_answer() | {"answer": "Paraffin oil [1].", "citations": [citation]}
        add_turn(session, conversation, CITED_QUESTION, "Paraffin oil [1].", details)
    return conversation


SUN = "Chlorophyll in the chloroplasts of leaf cells absorbs red and blue light and reflects green"

RUBISCO = "In the Calvin cycle the enzyme RuBisCO fixes carbon dioxide from the air"

TWO_QUOTES_QUESTION = "How do plants use light?"


def store_answer_citing_one_page_twice(scholar: Scholar, make_pdf: PdfMaker) -> int:
    """topics.pdf ingested, and a stored answer whose two sentences cite its page 1, each with
    its own quote, under one source number: the conversation."""
    [outcome] = list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    cited = {"n": 1, "document_id": outcome.document_id, "filename": "topics.pdf", "page": 1}
    citations = [cited | {"title": "topics", "quote": quote} for quote in (SUN, RUBISCO)]
    answer = "Chlorophyll absorbs light [1]. RuBisCO fixes carbon dioxide [1]."
    with scholar.store.session(write=True) as session:
        conversation = start_conversation(
            session, scholar.collection_id("default"), TWO_QUOTES_QUESTION
        )
        details = stored_answer() | {"answer": answer, "citations": citations}
        add_turn(session, conversation, TWO_QUOTES_QUESTION, answer, details)
    return conversation
