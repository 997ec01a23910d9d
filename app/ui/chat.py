"""The chat view: the conversation so far, a question box, and answers that stream in, then
show their citations, sources and evidence."""

from collections.abc import Mapping
from typing import Any

import streamlit as st

from app.export import answer_markdown, conversation_markdown
from app.records import DocumentSummary
from app.service import Scholar
from app.ui.common import (
    cut_off,
    ensure_generator,
    flash,
    kept_in_address,
    labelled,
    plain,
    reported_errors,
)
from app.ui.documents import VIEW
from app.ui.sidebar import CONVERSATION
from app.ui.sources import render_evidence, render_sources
from rag.answer import Answer
from rag.conversations import StoredTurn

ASK_WITHIN = "ask_within"  # session state: the documents a question is restricted to
BLANK_QUESTION_HINT = "Type a question to ask it."
WRITING_NOTE = "Finding passages and writing the answer… Clicking elsewhere in the app stops it."
# The page's address holds the question being answered until its answer is saved: a run that
# finds it there follows one that was cut off (a reload, or a click while the answer streamed).
ASKING_PARAM = "asking"


def render_chat(scholar: Scholar, collection: str, documents: list[DocumentSummary]) -> None:
    if not documents:
        _first_run()
        return
    by_id = {document.id: document for document in documents}
    st.multiselect(
        "Ask within",
        list(by_id),
        format_func=lambda document_id: by_id[document_id].title,
        key=ASK_WITHIN,
        placeholder="All documents in the collection",
    )
    conversation_id = st.session_state.get(CONVERSATION)
    turns = scholar.conversation(conversation_id) if conversation_id else []
    if turns:
        st.download_button(
            "Export conversation",
            conversation_markdown(turns[0].question, turns),
            file_name=f"conversation-{conversation_id}.md",
            mime="text/markdown",
        )
    for number, turn in enumerate(turns, start=1):
        _turn(scholar, turn, f"{conversation_id}-{number}")
    question = st.chat_input("Ask about your documents")
    if question:
        _ask(scholar, collection, question, conversation_id)


def _first_run() -> None:
    st.info(
        "**Start here.** This collection has no documents yet.\n\n"
        "1. Open **Documents** and drop in PDFs (or text, Markdown, HTML).\n"
        "2. Come back to **Chat** and ask a question: the answer cites the document, page and "
        "passage each claim rests on.\n"
        "3. Or ask for a **summary** of a paper from the document list."
    )
    st.button("Go to Documents", on_click=lambda: st.session_state.update({VIEW: "Documents"}))


def _turn(scholar: Scholar, turn: StoredTurn, key: str) -> None:
    with st.chat_message("user"):
        st.markdown(plain(turn.question))
    with st.chat_message("assistant"):
        _answer(scholar, turn.question, turn.details, key)


def _answer(scholar: Scholar, question: str, details: Mapping[str, Any], key: str) -> None:
    unsupported = details.get("unsupported_sentences", [])
    st.markdown(labelled(str(details["answer"]), unsupported))
    if unsupported:
        st.warning(
            "Not supported by the sources:\n\n"
            + "\n".join(f"- {plain(sentence)}" for sentence in unsupported)
        )
    if not details.get("quoted"):  # else the answer is the evidence
        render_evidence(details.get("evidence", []))
    render_sources(scholar, details, key)
    st.caption(_timings(details))
    st.download_button(
        "Export answer",
        answer_markdown(question, details),
        file_name=f"answer-{key}.md",
        mime="text/markdown",
        key=f"export-{key}",
    )


def _timings(details: Mapping[str, Any]) -> str:
    """Retrieval time, and the generation's when the model wrote the answer."""
    timings = details.get("timings", {})
    shown = f"retrieval {timings.get('retrieve_ms', 0):.0f} ms"
    if not details.get("found", True):
        return shown
    if timings.get("ttft_ms"):
        shown += f" · first word after {timings['ttft_ms'] / 1000:.1f} s"
    if timings.get("tokens_per_s"):  # none for a one-word answer
        shown += f" · {timings['tokens_per_s']:.0f} tokens/s"
    return shown


def _ask(scholar: Scholar, collection: str, question: str, conversation_id: int | None) -> None:
    if not question.strip():  # nothing asked: no bubbles, no answer
        st.caption(BLANK_QUESTION_HINT)
        return
    with st.chat_message("user"):
        st.markdown(plain(question))
    with st.chat_message("assistant"), reported_errors():
        note = st.empty()
        note.caption(WRITING_NOTE)
        try:
            with kept_in_address(ASKING_PARAM, question):
                answer = _streamed_answer(scholar, collection, question, conversation_id)
        except Exception:
            note.empty()
            raise
        if answer is not None:
            st.session_state[CONVERSATION] = answer.conversation_id
            st.rerun()


def _streamed_answer(
    scholar: Scholar, collection: str, question: str, conversation_id: int | None
) -> Answer | None:
    """The answer written into the page as the model writes it; saved when it is complete."""
    ensure_generator(scholar)
    selected = st.session_state.get(ASK_WITHIN) or None
    stream = scholar.ask(question, collection, selected, conversation_id)
    st.write_stream(plain(piece) for piece in stream)
    return stream.answer


def report_interrupted_question() -> None:
    """Say so when the last run was cut off while it answered a question (nothing was saved)."""
    for question in cut_off(ASKING_PARAM):
        flash(
            "warning",
            f"Your question “{question}” was not answered: its answer was stopped because the page "
            "was reloaded or something else was clicked while it was being written, and nothing "
            "of it was saved. Ask it again.",
        )
