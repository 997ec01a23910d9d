"""What every view shares: the cached service, escaped text, citation labels, readable errors."""

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import streamlit as st

from app.records import ScholarError
from app.service import Scholar
from app.settings import Settings, SettingsError
from model import UnsupportedModelError
from model.remote import RemoteGeneratorError
from rag.citations import unsupported_parts

log = logging.getLogger("llama-scholar")

# Every ASCII punctuation mark may be backslash-escaped in CommonMark; escaping all that matter
# keeps document and model text from becoming links, images, HTML, math or colour directives.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&=^\"'])")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_CITATION_MARKER = re.compile(r"\[(\d+(?:\s*[-\u2013,]\s*\d+)*)\]")

OVERRIDES = "settings_overrides"  # session state: the sidebar's changes to the settings
FLASHES = "flashes"  # session state: messages from callbacks, shown on the next run


def plain(text: str) -> str:
    """Untrusted text as Markdown that renders literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def plain_with_code(text: str) -> str:
    """Untrusted text as literal Markdown, except that its `inline code` (a command to run, in
    an error message) shows as code: a code span's content renders literally too."""
    parts: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        parts += [plain(text[last : span.start()]), f"`{span.group(1)}`"]
        last = span.end()
    parts.append(plain(text[last:]))
    return "".join(parts)


def labelled(text: str, unsupported: Sequence[str] = ()) -> str:
    """Untrusted answer text, escaped, with its [n] citation markers shown as compact labels and
    its unsupported claims highlighted where they stand, each with an "unsupported" label."""
    return "".join(
        _with_labels(part)
        if supported
        else f":orange-background[{plain(part.strip())}]"
        f" :orange-badge[unsupported]{part[len(part.rstrip()) :]}"
        for part, supported in unsupported_parts(text, unsupported)
    )


def _with_labels(text: str) -> str:
    parts: list[str] = []
    last = 0
    for marker in _CITATION_MARKER.finditer(text):
        label = re.sub(r"\s+", "", marker.group(1)).replace("-", "\u2013")
        parts += [plain(text[last : marker.start()]), f" :blue-badge[{label}]"]
        last = marker.end()
    parts.append(plain(text[last:]))
    return "".join(parts)


def current_settings() -> Settings:
    """The environment's settings with the sidebar's changes applied."""
    return replace(Settings.from_env(), **st.session_state.get(OVERRIDES, {}))


@st.cache_resource(show_spinner="Opening the library…")
def scholar_for(settings: Settings) -> Scholar:
    return Scholar(settings)


@st.cache_resource(show_spinner="Loading the language model (the first time only)…")
def _load_generator(model_key: str, _scholar: Scholar) -> int:
    return _scholar.generator.context_window  # the service keeps the loaded generator


def ensure_generator(scholar: Scholar) -> None:
    """Load the generator once per process, with a visible loading state."""
    _load_generator(scholar.model_key, scholar)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Problems become readable messages on the page, never tracebacks."""
    try:
        yield
    except Exception as error:
        st.error(plain_with_code(_readable(error)))


def flash(kind: str, message: str) -> None:
    """Keep a message for the next run (callbacks run before the page is drawn)."""
    st.session_state.setdefault(FLASHES, []).append((kind, message))


@contextmanager
def flashed_errors() -> Iterator[None]:
    """`reported_errors` for callbacks: the message is shown when the page is drawn next."""
    try:
        yield
    except Exception as error:
        flash("error", _readable(error))


@contextmanager
def kept_in_address(name: str, value: str | list[str]) -> Iterator[None]:
    """`value` in the page's address under `name` while the block runs (the block may change
    it). Streamlit stops a run that a reload or a click cuts off with a BaseException, which
    leaves it there: the next run finds it with `cut_off`."""
    st.query_params[name] = value
    try:
        yield
    except Exception:
        del st.query_params[name]
        raise
    del st.query_params[name]


def cut_off(name: str) -> list[str]:
    """What a run cut off inside `kept_in_address(name, ...)` left in the address (once)."""
    values = st.query_params.get_all(name)
    if values:
        del st.query_params[name]
    return values


def show_flashes() -> None:
    shown = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
    for kind, message in st.session_state.pop(FLASHES, []):
        shown[kind](plain_with_code(message) if kind == "error" else plain(message))


def _readable(error: Exception) -> str:
    if isinstance(
        error, (ScholarError, SettingsError, UnsupportedModelError, RemoteGeneratorError)
    ):
        return str(error)
    log.exception("unexpected error in the app")
    return (
        f"Something went wrong ({type(error).__name__}: {error}). "
        "The server log has the details; nothing stored was changed."
    )
