"""The browser app's flows, driven through Streamlit's AppTest with the real service, models and
store underneath (no stand-ins)."""

from pathlib import Path

from app.service import Scholar
from app.settings import Settings
from app.ui.documents import FAILED_BADGE
from rag.conversations import add_turn, start_conversation
from tests.app.ui.apptest import alerts, rendered, show, start, texts
from tests.app.ui.stored import HOSTILE, stored_answer
from tests.conftest import TOPIC_PAGES, TRICKY, PdfMaker, require_shared
from tests.reliability.test_tricky import EXPECTED, INGESTED, LARGE


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
            assert any(line.startswith(f"{path.name}: ingested") for line in succeeded)
        else:
            assert any(line.startswith(f"{path.name}: failed. {expected}: ") for line in failed)
    badged = [m.value for m in app.markdown if m.value.endswith(f" {FAILED_BADGE}")]
    assert len(badged) == len(failed)  # a failed document stands out in the list


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
