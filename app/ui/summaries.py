"""The summaries view: a structured summary of one document, every point with its pages."""

import streamlit as st

from app.export import NOTHING_ON_THIS, summary_markdown
from app.records import DocumentSummary
from app.service import Scholar
from app.ui.common import (
    cut_off,
    ensure_generator,
    flash,
    kept_in_address,
    plain,
    reported_errors,
)
from app.ui.documents import SUMMARY_DOCUMENT, SUMMARY_REQUEST
from app.ui.sources import show_page
from rag.summarize import Summary, SummaryPoint

SUMMARIZE_BUTTON = "summarize-document"
# The page's address names the document being summarized until its summary is stored: a run that
# finds it there follows one that was cut off (a reload, or a click while the summary was made).
SUMMARIZING_PARAM = "summarizing"


def render_summaries(scholar: Scholar, documents: list[DocumentSummary]) -> None:
    st.header("Summaries")
    if not documents:
        st.info("Add documents first; then any of them can be summarized here.")
        return
    by_id = {document.id: document for document in documents}
    if st.session_state.get(SUMMARY_DOCUMENT) not in by_id:
        st.session_state[SUMMARY_DOCUMENT] = documents[0].id
    document_id = st.selectbox(
        "Document",
        list(by_id),
        format_func=lambda found: f"{by_id[found].title} ({by_id[found].filename})",
        key=SUMMARY_DOCUMENT,
    )
    request = st.session_state.pop(SUMMARY_REQUEST, None)
    button = st.empty()  # drawn after the summary is made, so its label says what exists
    summary = None
    with reported_errors():
        summary = scholar.summary_if_stored(document_id)
        if request is not None and request[0] == document_id and (request[1] or not summary):
            summary = _summarize(scholar, by_id[document_id], refresh=summary is not None)
    button.button(
        "Summarize again" if summary else "Summarize",
        key=SUMMARIZE_BUTTON,  # one widget whatever its label, so no click is lost
        type="secondary" if summary else "primary",
        on_click=_request_summary,
        args=(document_id, summary is not None),
    )
    with reported_errors():
        if summary is None:
            st.caption("No summary yet. Summaries are stored and reused until asked again.")
            return
        _show(summary)
        _cited_page(scholar, document_id, summary)
        st.download_button(
            "Export summary",
            summary_markdown(by_id[document_id].title, summary),
            file_name=f"summary-{document_id}.md",
            mime="text/markdown",
        )


def _request_summary(document_id: int, refresh: bool) -> None:
    st.session_state[SUMMARY_REQUEST] = (document_id, refresh)


def _summarize(scholar: Scholar, document: DocumentSummary, refresh: bool) -> Summary:
    with kept_in_address(SUMMARIZING_PARAM, document.filename):
        ensure_generator(scholar)
        with st.status(f"Summarizing {plain(document.title)}", expanded=True) as status:
            bar = st.progress(0.0, text="Reading the document in parts")

            def progress(stage: str, done: int, total: int) -> None:
                bar.progress(done / max(total, 1), text=f"{100 * done // max(total, 1)}% read")

            summary = scholar.summarize(document.id, progress, refresh=refresh)
            status.update(label="Summary ready", state="complete", expanded=False)
    return summary


def report_interrupted_summary() -> None:
    """Say so when the last run was cut off while it summarized a document (nothing stored)."""
    for filename in cut_off(SUMMARIZING_PARAM):
        flash(
            "warning",
            f"The summary of {filename} was not made: it was stopped because the page was "
            "reloaded or something else was clicked while it was being written, and nothing of "
            "it was stored. Open Summaries and click Summarize to make it.",
        )


def _show(summary: Summary) -> None:
    st.markdown(f"**TL;DR** {plain(summary.tldr)}{_pages(summary.tldr_pages)}")
    for section in summary.sections:
        st.subheader(section.heading)
        if not section.points:
            st.caption(NOTHING_ON_THIS)
        for point in section.points:
            st.markdown(f"- {plain(point.text)}{_pages(point.pages)}")


def _cited_page(scholar: Scholar, document_id: int, summary: Summary) -> None:
    """A page the summary cites, opened on demand, with its first point there highlighted
    (found where the point is the document's own sentence)."""
    points = [SummaryPoint(summary.tldr, summary.tldr_pages)]
    points += [point for section in summary.sections for point in section.points]
    first_point: dict[int, str] = {}
    for point in points:
        for page in point.pages:
            first_point.setdefault(page, point.text)
    page = st.selectbox(
        "Open a cited page",
        sorted(first_point),
        index=None,
        format_func=lambda page: f"p. {page}",
        placeholder="Pick a page",
        key=f"summary-page-{document_id}",
    )
    if page is not None:
        show_page(scholar, document_id, page, [first_point[page]], f"summary-{document_id}")


def _pages(pages: list[int]) -> str:
    return "".join(f" :blue-badge[p. {page}]" for page in pages)
