"""The browser app's flows, driven through Streamlit's AppTest with the real service, models and
store underneath (no stand-ins)."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app.service as app_service
from app.service import Scholar
from app.settings import Settings
from app.ui.common import plain
from rag.conversations import add_turn, start_conversation
from tests.conftest import TOPIC_PAGES, TRICKY, PdfMaker, require_shared
from tests.reliability.test_tricky import EXPECTED, INGESTED, LARGE

APP = Path(__file__).resolve().parents[3] / "streamlit_app.py"
TIMEOUT_S = 300  # the first question loads (and may convert) the default model

HOSTILE = (
    "Zanzibar lighthouse keepers polish the brass lamp every evening before sunset. "
    "![beacon](http://127.0.0.1:9/beacon.png) <script>window.pwned = 1</script> "
    '<img src="http://127.0.0.1:9/x.png" onerror="window.pwned = 1"> '
    "The lamp of the Zanzibar lighthouse burns paraffin oil and turns once every ten seconds."
)


@pytest.fixture(autouse=True)
def short_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOLAR_MAX_NEW_TOKENS", "48")


def start(settings: Settings) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    return app


def show(app: AppTest, view: str) -> AppTest:
    app.radio(key="view").set_value(view).run()
    assert not app.exception, app.exception
    return app


def texts(elements) -> list[str]:
    """The elements' Markdown as it reads on the page (backslash escapes resolved)."""
    return [rendered(element.value) for element in elements]


def rendered(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_a_first_visit_gets_guidance_and_the_model_in_use(settings: Settings) -> None:
    app = start(settings)

    assert "Start here." in app.info[0].value
    assert app.sidebar.selectbox(key="collection").value == "default"
    assert any("bundled default" in caption for caption in texts(app.sidebar.caption))


def test_uploads_get_a_status_each_and_appear_in_the_document_list(
    settings: Settings, make_pdf: PdfMaker
) -> None:
    pdf = make_pdf("topics.pdf", TOPIC_PAGES).read_bytes()
    app = show(start(settings), "Documents")

    app.file_uploader[0].set_value(
        [
            ("topics.pdf", pdf, "application/pdf"),
            ("broken.pdf", b"this is not a PDF at all", "application/pdf"),
            ("empty.txt", b"", "text/plain"),
        ]
    ).run()

    assert not app.exception, app.exception
    assert texts(app.success) == ["topics.pdf: ingested, 4 pages, 4 passages."]
    errors = texts(app.error)
    assert len(errors) == 2
    assert errors[0].startswith("broken.pdf: failed. ")
    assert errors[1].startswith("empty.txt: failed. ")
    assert any("4 pages · 4 passages" in caption for caption in texts(app.caption))

    app.file_uploader[0].set_value(("again.pdf", pdf, "application/pdf")).run()
    assert "again.pdf: already in this collection as topics.pdf, nothing changed." in texts(
        app.info
    )
    app.file_uploader[0].set_value(("topics.pdf", pdf, "application/pdf")).run()
    assert "topics.pdf: already in this collection, nothing changed." in texts(app.info)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """(page, quote) of every page image the service draws, from here on."""
    calls: list[tuple[int, str]] = []
    draw = app_service.render_page
    monkeypatch.setattr(
        app_service,
        "render_page",
        lambda path, page, quote: calls.append((page, quote)) or draw(path, page, quote),
    )
    return calls


def test_an_answer_streams_with_citations_opens_its_page_and_is_kept(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker, drawn: list[tuple[int, str]]
) -> None:
    list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    app = start(settings)

    app.chat_input[0].set_value("What does the enzyme RuBisCO fix in the Calvin cycle?").run()

    assert not app.exception, app.exception
    answer = app.chat_message[1].markdown[0].value
    assert ":blue-badge[1]" in answer or ":blue-badge[" in answer
    sources = [rendered(expander.label) for expander in app.chat_message[1].expander]
    assert any(label.endswith("· p. 1") for label in sources)
    assert app.chat_message[1].expander[0].markdown[0].value.startswith("> ")

    toggle = app.chat_message[1].expander[0].toggle[0]
    toggle.set_value(True).run()
    assert not app.exception, app.exception
    source = app.chat_message[1].expander[0]
    assert not source.error, source.error
    images = source.get("image")
    assert len(images) == 1
    assert images[0].captions == ["Page 1 of 4"]  # the quote was found and highlighted
    assert source.get("download_button")[0].label == "Download topics.pdf"
    assert {page for page, _ in drawn} == {1}  # once for each of the source's quotes on it
    drawings = len(drawn)
    app.run()  # any later rerun, as each question makes: the open page is not drawn again
    assert app.chat_message[1].expander[0].get("image")[0].captions == ["Page 1 of 4"]
    assert len(drawn) == drawings

    tomorrow = start(settings)
    [conversation] = [b for b in tomorrow.sidebar.button if (b.key or "").startswith("conv")]
    question = "What does the enzyme RuBisCO fix in the Calvin cycle?"
    assert rendered(conversation.label).startswith(f"{question} · ")
    assert rendered(conversation.label).endswith(" · 1 question")
    conversation.click().run()
    assert texts(tomorrow.chat_message[0].markdown) == [question]
    assert ":blue-badge[" in tomorrow.chat_message[1].markdown[0].value


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


def test_a_question_can_be_kept_within_chosen_documents(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker
) -> None:
    outcomes = list(
        scholar.ingest(
            [make_pdf("topics.pdf", TOPIC_PAGES), make_pdf("volcano.pdf", [TOPIC_PAGES[1]])]
        )
    )
    only = outcomes[1].document_id
    app = start(settings)

    app.multiselect(key="ask_within").set_value([only]).run()
    app.chat_input[0].set_value("What do volcanologists watch for before an eruption?").run()

    assert not app.exception, app.exception
    [conversation] = scholar.conversations()
    [turn] = scholar.conversation(conversation.id)
    assert {passage["document_id"] for passage in turn.details["retrieved"]} == {only}
    files = [texts(expander.caption) for expander in app.chat_message[1].expander]
    assert files and all(shown == ["volcano.pdf"] for shown in files)


def test_a_summary_is_made_once_and_shown_with_pages(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker
) -> None:
    list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    app = show(start(settings), "Summaries")

    summarize = next(button for button in app.main.button if button.label == "Summarize")
    summarize.click().run()

    assert not app.exception, app.exception
    assert any(value.startswith("**TL;DR** ") for value in texts(app.main.markdown))
    assert [header.value for header in app.main.subheader] == [
        "Problem",
        "Method",
        "Key results",
        "Limitations",
    ]
    assert any(":blue-badge[p. " in value for value in texts(app.main.markdown))
    again = show(start(settings), "Summaries")
    assert any(button.label == "Summarize again" for button in again.main.button)


def test_a_document_is_deleted_from_the_list(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker
) -> None:
    outcome = next(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    app = show(start(settings), "Documents")

    app.button(key=f"delete-{outcome.document_id}").click().run()

    assert not app.exception, app.exception
    assert "Deleted topics.pdf." in texts(app.success)
    assert scholar.documents() == []


def test_a_new_collection_is_created_and_picked(settings: Settings) -> None:
    app = start(settings)

    app.sidebar.text_input(key="new_collection_name").input("Reading group")
    submit = next(button for button in app.sidebar.get("button") if button.label == "Create")
    submit.click().run()

    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key="collection").value == "Reading group"


def test_a_generator_path_that_does_not_exist_is_refused(settings: Settings) -> None:
    app = start(settings)

    generator = next(field for field in app.sidebar.text_input if field.label == "Generator")
    generator.input("/no/such/model.gguf")
    submit = next(button for button in app.sidebar.get("button") if button.label == "Apply")
    submit.click().run()

    assert not app.exception, app.exception
    assert any("does not exist" in error for error in texts(app.sidebar.error))


def test_the_tricky_pdfs_uploaded_as_one_batch_each_get_their_outcome(settings: Settings) -> None:
    folder = require_shared(TRICKY)
    files = sorted(path for path in folder.glob("*.pdf") if path.name not in LARGE)
    app = show(start(settings), "Documents")

    app.file_uploader[0].set_value(
        [(path.name, path.read_bytes(), "application/pdf") for path in files]
    ).run()

    assert not app.exception, app.exception
    succeeded, failed = texts(app.success), texts(app.error)
    assert len(succeeded) + len(failed) == len(files)
    for path in files:
        expected = EXPECTED[path.name]
        if expected == INGESTED:
            assert any(line.startswith(f"{path.name}: ingested, ") for line in succeeded)
        else:
            assert any(line.startswith(f"{path.name}: failed. {expected}: ") for line in failed)


def test_upload_outcomes_stay_with_their_collection_and_go_when_a_document_is_deleted(
    settings: Settings, scholar: Scholar, tmp_path: Path
) -> None:
    note = "Glaciers carve valleys as they move downhill under their own weight, year by year."
    app = show(start(settings), "Documents")
    app.file_uploader[0].set_value(("lighthouse.md", HOSTILE.encode(), "text/markdown")).run()
    assert texts(app.success) == ["lighthouse.md: ingested, 1 page, 1 passage."]

    app.sidebar.text_input(key="new_collection_name").input("Glaciers")
    next(button for button in app.sidebar.get("button") if button.label == "Create").click().run()

    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key="collection").value == "Glaciers"
    assert not any("lighthouse.md" in text for text in alerts(app))
    assert any("No documents in this collection yet" in text for text in texts(app.info))

    app.file_uploader[0].set_value(("glaciers.md", note.encode(), "text/markdown")).run()
    assert texts(app.success) == ["glaciers.md: ingested, 1 page, 1 passage."]
    app.sidebar.selectbox(key="collection").set_value("default").run()
    assert texts(app.success) == ["lighthouse.md: ingested, 1 page, 1 passage."]

    [document] = scholar.documents("default")
    app.button(key=f"delete-{document.id}").click().run()

    assert not app.exception, app.exception
    assert texts(app.success) == ["Deleted lighthouse.md."]
    app.sidebar.selectbox(key="collection").set_value("Glaciers").run()
    assert not any("ingested" in text for text in alerts(app))


def alerts(app: AppTest) -> list[str]:
    """Every success, info, warning and error message on the page, as it reads."""
    return texts([*app.success, *app.info, *app.warning, *app.error])


def test_a_generator_path_that_is_not_a_model_is_refused_and_the_previous_one_kept(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    app = start(settings)

    def apply(path: Path) -> list[str]:
        generator = next(field for field in app.sidebar.text_input if field.label == "Generator")
        generator.input(str(path))
        next(button for button in app.sidebar.get("button") if button.label == "Apply").click()
        app.run()
        assert not app.exception, app.exception
        return texts(app.sidebar.error)

    assert apply(folder) == []
    assert any("Model: tiny-llama on " in caption for caption in texts(app.sidebar.caption))

    for refused, problem in [
        (notes, "is neither a GGUF file nor a Hugging Face model folder"),
        (empty, "is a folder without config.json"),
    ]:
        [error] = apply(refused)
        assert error.startswith(f"{refused} {problem}; give a Hugging Face LLaMA folder")
        assert "(with config.json) or a .gguf file" in error
        assert app.session_state["settings_overrides"]["generator_path"] == folder
        assert any("Model: tiny-llama on " in caption for caption in texts(app.sidebar.caption))


def test_the_open_conversation_is_deleted_and_same_titles_read_differently(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker
) -> None:
    list(scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    question = "What does the enzyme RuBisCO fix?"
    with scholar.store.session(write=True) as session:
        ids = [start_conversation(session, scholar.collection_id("default"), question)]
        ids.append(start_conversation(session, scholar.collection_id("default"), question))
        for conversation, turns in zip(ids, (1, 2), strict=True):
            for _ in range(turns):
                add_turn(session, conversation, question, "It fixes carbon.", stored_answer())
    app = start(settings)

    listed = [b for b in app.sidebar.button if (b.key or "").startswith("conversation-")]
    labels = [rendered(button.label) for button in listed]
    assert len(labels) == 2 and len(set(labels)) == 2
    assert all(label.startswith(f"{question} · ") for label in labels)
    assert not [b for b in app.sidebar.button if (b.key or "").startswith("delete-conv")]
    app.button(key=f"conversation-{ids[1]}").click().run()
    assert len(app.chat_message) == 4

    app.button(key=f"delete-conversation-{ids[1]}").click().run()

    assert not app.exception, app.exception
    assert f"Deleted the conversation {question}" in " ".join(texts(app.success))
    assert [listing.id for listing in scholar.conversations()] == [ids[0]]
    assert app.session_state["conversation_id"] is None
    assert len(app.chat_message) == 0  # a new conversation
    listed = [b for b in app.sidebar.button if (b.key or "").startswith("conversation-")]
    assert [button.key for button in listed] == [f"conversation-{ids[0]}"]


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
