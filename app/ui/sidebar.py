"""The sidebar: collection picker, conversations, settings, and the model in use."""

from pathlib import Path

import streamlit as st

from app.records import counted
from app.service import DEFAULT_COLLECTION, Scholar
from app.ui.common import OVERRIDES, flash, flashed_errors, plain, reported_errors
from model.generator import model_path_problem
from rag.conversations import ConversationListing

COLLECTION = "collection"  # session state: the collection picked
CONVERSATION = "conversation_id"  # session state: the conversation shown, None for a new one
# The page's address keeps the collection and conversation shown, so a reload shows them again.
COLLECTION_PARAM = "collection"
CONVERSATION_PARAM = "conversation"
NEW_COLLECTION_NAME = "new_collection_name"
CONVERSATIONS_LISTED = 30


def render_sidebar(scholar: Scholar, existing: list[str]) -> str:
    """Draw the sidebar for the `existing` collections; the collection picked."""
    with st.sidebar:
        st.title("llama-scholar")
        collection = _collection_picker(scholar, existing)
        if collection in existing:  # not the default collection before its first upload
            _conversations(scholar, collection)
        else:
            st.session_state[CONVERSATION] = None
            _new_conversation_button()
        _settings(scholar)
    _remember(collection, st.session_state.get(CONVERSATION))
    return collection


def _collection_picker(scholar: Scholar, existing: list[str]) -> str:
    names = sorted(existing, key=str.casefold) or [DEFAULT_COLLECTION]
    if st.session_state.get(COLLECTION) not in names:  # a new browser session, or a reload
        remembered = st.query_params.get(COLLECTION_PARAM)
        st.session_state[COLLECTION] = remembered if remembered in names else _preferred(names)
    st.selectbox("Collection", names, key=COLLECTION, on_change=_new_conversation)
    with (
        st.popover("New collection", width="stretch"),
        st.form("new-collection", clear_on_submit=True, border=False),
    ):
        st.text_input("Name", max_chars=200, key=NEW_COLLECTION_NAME)
        st.form_submit_button("Create", on_click=_create_collection, args=(scholar,))
    return st.session_state[COLLECTION]


def _preferred(names: list[str]) -> str:
    """The collection shown when none is chosen yet: the default one, else the first by name."""
    return DEFAULT_COLLECTION if DEFAULT_COLLECTION in names else names[0]


def _remember(collection: str, conversation_id: int | None) -> None:
    """Put the collection and conversation shown in the page's address (for a reload)."""
    wanted = {COLLECTION_PARAM: collection}
    if conversation_id is not None:
        wanted[CONVERSATION_PARAM] = str(conversation_id)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def _create_collection(scholar: Scholar) -> None:
    name = st.session_state.get(NEW_COLLECTION_NAME, "").strip()
    with flashed_errors():
        scholar.collection_id(name, create=True)
        st.session_state[COLLECTION] = name
        _new_conversation()
        flash("success", f"Created the collection {name}.")


def _new_conversation_button() -> None:
    st.subheader("Conversations")
    st.button("New conversation", on_click=_new_conversation, width="stretch")


def _conversations(scholar: Scholar, collection: str) -> None:
    _new_conversation_button()
    listings = scholar.conversations(collection)
    if CONVERSATION not in st.session_state:  # a new browser session, or a reload
        st.session_state[CONVERSATION] = _remembered_conversation({item.id for item in listings})
    current = st.session_state.get(CONVERSATION)
    shown = next((listing for listing in listings if listing.id == current), None)
    if shown is not None:
        _delete_conversation_popover(scholar, shown)
    for listing in listings[:CONVERSATIONS_LISTED]:
        st.button(
            conversation_label(listing),
            key=f"conversation-{listing.id}",
            type="primary" if listing.id == current else "secondary",
            on_click=_open_conversation,
            args=(listing.id,),
            width="stretch",
            help=f"{listing.turns} question(s), started {listing.created_at:%Y-%m-%d %H:%M} UTC",
        )


def conversation_label(listing: ConversationListing) -> str:
    """The conversation's title, escaped, with its start and length: conversations that begin
    with the same question still read differently."""
    return (
        f"{plain(listing.title)} · {listing.created_at:%b %d %H:%M} · "
        f"{counted(listing.turns, 'question')}"
    )


def _delete_conversation_popover(scholar: Scholar, listing: ConversationListing) -> None:
    with st.popover("Delete conversation", width="stretch"):
        st.write(f"Delete the conversation {plain(listing.title)} and its answers?")
        st.button(
            "Delete for good",
            key=f"delete-conversation-{listing.id}",
            type="primary",
            on_click=_delete_conversation,
            args=(scholar, listing),
        )


def _delete_conversation(scholar: Scholar, listing: ConversationListing) -> None:
    with flashed_errors():
        scholar.delete_conversation(listing.id)
        flash("success", f"Deleted the conversation {listing.title}.")
    _new_conversation()


def _remembered_conversation(in_collection: set[int]) -> int | None:
    """The conversation the page's address names, if it is one of the collection's."""
    remembered = st.query_params.get(CONVERSATION_PARAM, "")
    if remembered.isascii() and remembered.isdigit() and int(remembered) in in_collection:
        return int(remembered)
    return None


def _settings(scholar: Scholar) -> None:
    settings = scholar.settings
    with st.expander("Settings"), st.form("settings", border=False):
        generator = st.text_input(
            "Generator",
            value=str(st.session_state.get(OVERRIDES, {}).get("generator_path") or ""),
            placeholder="the bundled default",
            help="A Hugging Face LLaMA folder or a GGUF file here; empty for the default.",
        )
        sources = st.number_input("Sources per answer", 1, 20, settings.answer_sources)
        temperature = st.slider("Temperature", 0.0, 1.5, float(settings.temperature), 0.05)
        max_new_tokens = st.number_input("Max new tokens", 16, 4096, settings.max_new_tokens)
        if st.form_submit_button("Apply"):
            with reported_errors():
                _apply(generator.strip(), int(sources), temperature, int(max_new_tokens))
    st.caption(f"Model: {plain(scholar.model_description())}")


def _apply(generator: str, sources: int, temperature: float, max_new_tokens: int) -> None:
    overrides: dict[str, object] = {
        "answer_sources": sources,
        "temperature": temperature,
        "max_new_tokens": max_new_tokens,
    }
    if generator:
        path = Path(generator).expanduser()
        problem = model_path_problem(path)
        if problem:  # the settings in force stay as they are
            st.error(
                plain(
                    f"{generator} {problem}; give a Hugging Face LLaMA folder (with config.json) "
                    "or a .gguf file. The generator in use is unchanged."
                )
            )
            return
        overrides |= {"generator_path": path, "generator_url": None}  # a path beats a URL
    st.session_state[OVERRIDES] = overrides
    st.rerun()


def _new_conversation() -> None:
    st.session_state[CONVERSATION] = None


def _open_conversation(conversation_id: int) -> None:
    st.session_state[CONVERSATION] = conversation_id
