"""The page: sidebar, then one of the three views."""

import streamlit as st

from app.service import Scholar
from app.ui.chat import render_chat, report_interrupted_question
from app.ui.common import current_settings, reported_errors, scholar_for, show_flashes
from app.ui.documents import VIEW, render_documents, report_interrupted_upload
from app.ui.sidebar import render_sidebar
from app.ui.summaries import render_summaries, report_interrupted_summary
from rag.store import DocumentStatus

VIEWS = ("Chat", "Documents", "Summaries")
HEALTH_SHOWN = "health_shown"  # session state: the start-up check was reported


def run() -> None:
    st.set_page_config(page_title="llama-scholar", page_icon="📚", layout="wide")
    with reported_errors():
        scholar = scholar_for(current_settings())
        _health_once(scholar)
        # Before the sidebar rewrites the page's address:
        report_interrupted_upload()
        report_interrupted_question()
        report_interrupted_summary()
        existing = scholar.collection_names()
        collection = render_sidebar(scholar, existing)
        show_flashes()
        view = st.radio("View", VIEWS, key=VIEW, horizontal=True, label_visibility="collapsed")
        # The default collection is created by its first upload; until then it has no documents.
        documents = scholar.documents(collection) if collection in existing else []
        ready = [document for document in documents if document.status == DocumentStatus.READY]
        if view == "Documents":
            render_documents(scholar, collection, documents)
        elif view == "Summaries":
            render_summaries(scholar, ready)
        else:
            render_chat(scholar, collection, ready)


def _health_once(scholar: Scholar) -> None:
    """The start-up check's findings, once per browser session."""
    health = scholar.health
    if health.healthy or st.session_state.get(HEALTH_SHOWN):
        return
    st.session_state[HEALTH_SHOWN] = True
    outcome = "and repaired them" if health.repaired else "that need `scholar doctor --repair`"
    st.warning(
        f"The start-up check of the library found {len(health.problems)} problem(s) {outcome}; "
        "`scholar doctor` lists them."
    )
