"""The summaries view: a structured summary of one document, every point with its pages."""

import streamlit as st

from app.export import summary_markdown
from app.records import DocumentSummary
from app.service import Scholar
from app.ui.common import ensure_generator, plain, reported_errors
from app.ui.documents import SUMMARY_DOCUMENT
from rag.summarize import Summary


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
    with reported_errors():
        summary = scholar.summary_if_stored(document_id)
        label = "Summarize again" if summary else "Summarize"
        if st.button(label, type="secondary" if summary else "primary"):
            summary = _summarize(scholar, by_id[document_id], refresh=summary is not None)
        if summary is None:
            st.caption("No summary yet. Summaries are stored and reused until asked again.")
            return
        _show(summary)
        st.download_button(
            "Export summary",
            summary_markdown(by_id[document_id].title, summary),
            file_name=f"summary-{document_id}.md",
            mime="text/markdown",
        )


def _summarize(scholar: Scholar, document: DocumentSummary, refresh: bool) -> Summary:
    ensure_generator(scholar)
    with st.status(f"Summarizing {plain(document.title)}", expanded=True) as status:
        bar = st.progress(0.0, text="Reading the document in parts")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"{done} of {total} parts read")

        summary = scholar.summarize(document.id, progress, refresh=refresh)
        status.update(label="Summary ready", state="complete", expanded=False)
    return summary


def _show(summary: Summary) -> None:
    st.markdown(f"**TL;DR** {plain(summary.tldr)}{_pages(summary.tldr_pages)}")
    for section in summary.sections:
        st.subheader(section.heading)
        if not section.points:
            st.caption("Nothing on this in the document.")
        for point in section.points:
            st.markdown(f"- {plain(point.text)}{_pages(point.pages)}")


def _pages(pages: list[int]) -> str:
    return "".join(f" :blue-badge[p. {page}]" for page in pages)
