"""The documents view: uploads with a status per file, and the collection's document list."""

from pathlib import Path

import streamlit as st

from app.records import DocumentSummary, counted
from app.service import Scholar
from app.ui.common import cut_off, flash, flashed_errors, kept_in_address, plain, plain_with_code
from ingest.outcomes import FileOutcome, IngestStatus
from ingest.readers import SUPPORTED_EXTENSIONS
from rag.store import DocumentStatus

UPLOAD_ROUND = "upload_round"  # session state: bumped to clear the uploader after a batch
# session state: {collection: its last batch's outcomes}, shown only with that collection and
# dropped when a document is deleted (they may name it)
UPLOAD_OUTCOMES = "upload_outcomes"
SUMMARY_DOCUMENT = "summary_document"  # session state: the document the summaries view shows
# session state: (document id, refresh): a summary asked for, made by the next run
SUMMARY_REQUEST = "summary_request"
VIEW = "view"  # session state: the main view's name
# The page's address names the batch's files not yet ingested (the first is being ingested) until
# it is done: a run that finds them there follows one that was cut off (a reload, a closed tab, a
# click during the upload).
UPLOADING_PARAM = "uploading"
FAILED_BADGE = ":red-badge[failed]"  # beside a document that could not be added
PASSWORD_TAKEN = "The password will open the password-protected PDFs of the next upload."
SUPPORTED_TYPES = "Supported: " + ", ".join(sorted(SUPPORTED_EXTENSIONS))
# Shares of a file's progress bar by stage; "ocr" runs only on scanned pages.
STAGE_SHARE = {"read": (0.0, 0.3), "ocr": (0.3, 0.7), "embed": (0.7, 1.0)}
STAGE_NOUN = {"read": "pages read", "ocr": "scanned pages OCRed", "embed": "passages embedded"}


def render_documents(scholar: Scholar, collection: str, documents: list[DocumentSummary]) -> None:
    st.header("Documents")
    _uploads(scholar, collection)
    _outcomes(collection)
    if not documents:
        st.info("No documents in this collection yet: drop PDFs, text, Markdown or HTML above.")
        return
    for document in documents:
        _document_row(scholar, document)


def _uploads(scholar: Scholar, collection: str) -> None:
    round_number = st.session_state.setdefault(UPLOAD_ROUND, 0)
    # No `type=` filter: the uploader would drop other files with only a tooltip (and accept
    # any text/* file for ".text"); every file reaches ingestion, which names what it refuses.
    uploads = st.file_uploader(
        "Add documents",
        accept_multiple_files=True,
        key=f"uploader-{round_number}",
        help=f"{SUPPORTED_TYPES}. Up to {scholar.settings.max_file_mb} MB each; "
        "duplicates are recognised.",
    )
    st.caption(SUPPORTED_TYPES)
    password = st.text_input(
        "PDF password",
        type="password",
        key=f"pdf-password-{round_number}",  # a new batch starts with an empty field
        help="Only for password-protected PDFs in this batch.",
    )
    if password:
        st.caption(PASSWORD_TAKEN)
    if not uploads:
        return
    outcomes = st.session_state.setdefault(UPLOAD_OUTCOMES, {})[collection] = []
    with kept_in_address(UPLOADING_PARAM, [upload.name for upload in uploads]):
        for number, upload in enumerate(uploads):  # each outcome kept as it comes
            st.query_params[UPLOADING_PARAM] = [waiting.name for waiting in uploads[number:]]
            data = upload.getvalue()
            outcomes.append(_ingest_one(scholar, collection, upload.name, data, password))
    st.session_state[UPLOAD_ROUND] = round_number + 1
    st.rerun()


def _ingest_one(
    scholar: Scholar, collection: str, filename: str, data: bytes, password: str
) -> FileOutcome:
    with st.status(f"Ingesting {plain(filename)}", expanded=True) as status:
        bar = st.progress(0.0, text="Reading")

        def progress(stage: str, done: int, total: int) -> None:
            start, end = STAGE_SHARE.get(stage, (0.0, 1.0))
            fraction = start + (end - start) * done / max(total, 1)
            noun = STAGE_NOUN.get(stage, "steps")
            bar.progress(min(fraction, 1.0), text=f"{done} of {total} {noun}")

        outcome = scholar.ingest_content(data, filename, collection, password or None, progress)
        failed = outcome.status == IngestStatus.FAILED
        status.update(
            label=_outcome_markdown(outcome),
            state="error" if failed else "complete",
            expanded=False,
        )
    return outcome


def report_interrupted_upload() -> None:
    """Say so when the last run was cut off while it ingested a batch: the file being ingested
    then (nothing of it is kept) and the ones after it were not added."""
    filenames = cut_off(UPLOADING_PARAM)
    if not filenames:
        return
    st.session_state[UPLOAD_ROUND] = st.session_state.get(UPLOAD_ROUND, 0) + 1  # not again
    cut, *unstarted = filenames
    message = (
        f"{cut} was not added: its upload was cut off (the page was reloaded or left, or "
        "something else was clicked meanwhile), and nothing of it was stored."
    )
    if unstarted:
        message += f" Not started either: {', '.join(unstarted)}."
    flash("warning", f"{message} Add {'them' if unstarted else 'it'} again.")


def _outcomes(collection: str) -> None:
    """The outcomes of the last batch uploaded into `collection`."""
    for outcome in st.session_state.get(UPLOAD_OUTCOMES, {}).get(collection, []):
        text = _outcome_markdown(outcome)
        if outcome.status == IngestStatus.INGESTED:
            st.success(text)
        elif outcome.status == IngestStatus.DUPLICATE:
            st.info(text)
        else:
            st.error(text)


def _outcome_markdown(outcome: FileOutcome) -> str:
    """The outcome as Markdown: the file name literal, an error's `commands` as code."""
    source = plain(outcome.source)
    if outcome.status == IngestStatus.INGESTED:
        sizes = f"{counted(outcome.pages, 'page')}, {counted(outcome.chunks, 'passage')}"
        note = f" {plain(outcome.note)}." if outcome.note else ""
        return f"{source}: {outcome.label}, {sizes}.{note}"
    if outcome.status == IngestStatus.DUPLICATE:
        return f"{source}: already in this collection{_as(outcome)}, nothing changed."
    return f"{source}: failed. {plain_with_code(outcome.error or '')}"


def _as(duplicate: FileOutcome) -> str:
    """' as NAME' where the same content was ingested under another file name."""
    if duplicate.duplicate_of in (None, Path(duplicate.source).name):
        return ""
    return f" as {plain(str(duplicate.duplicate_of))}"


def _document_row(scholar: Scholar, document: DocumentSummary) -> None:
    with st.container(border=True):
        about, summarize, delete = st.columns([6, 1.3, 1.2], vertical_alignment="center")
        ready = document.status == DocumentStatus.READY
        about.markdown(f"**{plain(document.title)}**" + ("" if ready else f" {FAILED_BADGE}"))
        if ready:
            about.caption(
                f"{plain(document.filename)} · {counted(document.pages, 'page')} · "
                f"{counted(document.chunks, 'passage')}"
            )
            summarize.button(
                "Summarize",
                key=f"summarize-{document.id}",
                on_click=_open_summary,
                args=(document.id,),
            )
        else:
            failure = plain_with_code(document.error or "")
            about.caption(f"{plain(document.filename)} · failed: {failure}")
        with delete.popover("Delete"):
            st.write("Remove the document, its passages and its summaries?")
            st.button(
                "Delete for good",
                key=f"delete-{document.id}",
                type="primary",
                on_click=_delete,
                args=(scholar, document.id),
            )


def _open_summary(document_id: int) -> None:
    """Show the document's summary: the stored one, else one made now."""
    st.session_state[SUMMARY_DOCUMENT] = document_id
    st.session_state[SUMMARY_REQUEST] = (document_id, False)
    st.session_state[VIEW] = "Summaries"


def _delete(scholar: Scholar, document_id: int) -> None:
    st.session_state.pop(UPLOAD_OUTCOMES, None)  # they may report the file deleted now
    with flashed_errors():
        removed = scholar.delete_document(document_id)
        flash("success", f"Deleted {removed.filename}.")
