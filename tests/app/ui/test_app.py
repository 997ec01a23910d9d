"""The browser app's flows, driven through Streamlit's AppTest with the real service, models and
store underneath (no stand-ins)."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app.service as app_service
from app.service import Scholar
from app.settings import Settings
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
    assert "again.pdf: already in this collection, nothing changed." in texts(app.info)


def test_an_answer_streams_with_citations_opens_its_page_and_is_kept(
    settings: Settings, scholar: Scholar, make_pdf: PdfMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[int] = []
    draw = app_service.render_page
    monkeypatch.setattr(
        app_service,
        "render_page",
        lambda path, page, quote: drawn.append(page) or draw(path, page, quote),
    )
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
    app.run()  # any later rerun, as each question makes: the open page is not drawn again
    assert app.chat_message[1].expander[0].get("image")[0].captions == ["Page 1 of 4"]
    assert drawn == [1]

    tomorrow = start(settings)
    [conversation] = [b for b in tomorrow.sidebar.button if (b.key or "").startswith("conv")]
    assert rendered(conversation.label) == "What does the enzyme RuBisCO fix in the Calvin cycle?"
    conversation.click().run()
    assert texts(tomorrow.chat_message[0].markdown) == [rendered(conversation.label)]
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
