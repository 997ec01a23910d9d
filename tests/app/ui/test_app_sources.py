"""An answer's sources in AppTest: document and model text shown inert, a Markdown source's text
with the quote marked, every quote of a source cited by several sentences, and its timings."""

import re
from pathlib import Path

from app.service import Scholar
from app.settings import Settings
from app.ui.common import plain
from rag.conversations import add_turn, start_conversation
from tests.app.ui.apptest import rendered, start, texts
from tests.app.ui.stored import (
    HOSTILE,
    LAMP,
    RUBISCO,
    SUN,
    store_answer_citing_one_page_twice,
    store_cited_markdown,
    stored_answer,
)
from tests.conftest import TOPIC_PAGES, PdfMaker


def test_document_and_model_text_is_shown_as_inert_markdown(
    settings: Settings, scholar: Scholar, tmp_path: Path
) -> None:
    hostile = tmp_path / "lighthouse.md"
    hostile.write_text(HOSTILE)
    list(scholar.ingest([hostile]))
    app = start(settings)

    app.chat_input[0].set_value("What oil does the Zanzibar lighthouse lamp burn?").run()

    assert not app.exception, app.exception
    shown = [element for element in app.main.get("markdown")]
    assert shown
    for element in shown:
        assert not element.proto.allow_html
        assert "![" not in element.value  # an image would be `![alt](url)`
        assert re.search(r"(?<!\\)<", element.value) is None  # every < escaped: no HTML
    assert any("<script>window.pwned = 1</script>" in text for text in texts(shown))


def test_a_cited_markdown_source_shows_its_text_with_the_quote_marked(
    settings: Settings, scholar: Scholar, tmp_path: Path
) -> None:
    conversation = store_cited_markdown(scholar, tmp_path)
    app = start(settings)
    app.button(key=f"conversation-{conversation}").click().run()

    source = app.chat_message[1].expander[0]
    assert [toggle.label for toggle in source.toggle] == ["Show the text"]
    source.toggle[0].set_value(True).run()

    assert not app.exception, app.exception
    source = app.chat_message[1].expander[0]
    assert not source.error, source.error
    assert not source.get("image")
    [page_text] = [m.value for m in source.markdown if ":orange-background[" in m.value]
    assert f":orange-background[{plain(LAMP)}]" in page_text
    assert re.search(r"(?<!\\)<", page_text) is None  # the document's HTML stays text
    assert "<script>window.pwned = 1</script>" in rendered(page_text)
    assert "The text of the file" in texts(source.caption)
    assert source.get("download_button")[0].label == "Download lighthouse.md"


def test_a_source_cited_by_several_sentences_shows_and_highlights_every_quote(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker, drawn: list[tuple[int, str]]
) -> None:
    conversation = store_answer_citing_one_page_twice(scholar, make_pdf)
    app = start(settings)
    app.button(key=f"conversation-{conversation}").click().run()

    [source] = app.chat_message[1].expander
    assert texts(source.markdown) == [f"> {SUN}", f"> {RUBISCO}"]
    source.toggle[0].set_value(True).run()

    assert not app.exception, app.exception
    source = app.chat_message[1].expander[0]
    assert not source.error, source.error
    assert source.get("image")[0].captions == ["Page 1 of 4"]  # both found and highlighted
    assert sorted(drawn) == sorted([(1, SUN), (1, RUBISCO)])


def test_an_answer_of_one_word_shows_no_rate_of_tokens(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker
) -> None:
    """Its rate is over no tokens after the first: 0 tokens/s is no figure to show."""
    list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    timings = {"retrieve_ms": 12.0, "ttft_ms": 1200.0, "tokens_per_s": 0.0}
    with scholar.store.session(write=True) as session:
        conversation = start_conversation(session, scholar.collection_id("default"), "Why?")
        add_turn(session, conversation, "Why?", "Yes.", stored_answer() | {"timings": timings})
    app = start(settings)
    app.button(key=f"conversation-{conversation}").click().run()
    assert texts(app.chat_message[1].caption) == ["retrieval 12 ms · first word after 1.2 s"]
