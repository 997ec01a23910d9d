"""An answer's sources: each cited passage with its quote, and the PDF page it is on with the
quote highlighted (for other files, the page's text with the quote marked), opened on demand."""

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from app.export import unique_citations
from app.page_view import PageImage, text_pages
from app.service import Scholar
from app.ui.common import plain, reported_errors

CLOSEST_PASSAGES = 3  # shown when an answer cites nothing
PAGE_WIDTH = 760  # pixels: a whole page readable without scrolling far
PAGES_KEPT = 32  # rendered pages kept across reruns, so an open page is not drawn again


def render_sources(scholar: Scholar, details: Mapping[str, Any], key: str) -> None:
    """The sources one answer cites, in its text or its evidence (`details` is
    `Answer.to_json()`), or, when it cites none, the closest passages that were retrieved."""
    citations = unique_citations([*details.get("citations", []), *details.get("evidence", [])])
    if citations:
        st.markdown("**Sources**")
        for citation in citations:
            _source(scholar, citation, f"{key}-{citation['n']}")
    else:
        st.markdown("**Closest passages**")
        for passage in details.get("retrieved", [])[:CLOSEST_PASSAGES]:
            label = f"{passage['title']} · p. {passage['page_start']}"
            with st.expander(plain(label)):
                st.text(passage["text"])


def render_evidence(evidence: Sequence[Mapping[str, Any]]) -> None:
    if not evidence:
        return
    st.markdown("**From the sources**")
    for citation in evidence:
        st.markdown(
            f"> {plain(citation['quote'])} :blue-badge[{int(citation['n'])}]  \n"
            f"> — {plain(citation['title'])}, p. {int(citation['page'])}"
        )


def _source(scholar: Scholar, citation: Mapping[str, Any], key: str) -> None:
    page = int(citation["page"])
    label = f"[{int(citation['n'])}] {citation['title']} · p. {page}"
    with st.expander(plain(label)):
        st.markdown(f"> {plain(citation['quote'])}")
        st.caption(plain(citation["filename"]))
        is_pdf = str(citation["filename"]).lower().endswith(".pdf")
        if st.toggle(f"Show page {page}" if is_pdf else "Show the text", key=f"page-{key}"):
            _page(scholar, citation, page, str(citation["quote"]), key)


def _page(scholar: Scholar, citation: Mapping[str, Any], page: int, quote: str, key: str) -> None:
    with reported_errors():
        filename = str(citation["filename"])
        document_id = scholar.cited_document(int(citation["document_id"]), filename, quote)
        show_page(scholar, document_id, page, quote, key)


def show_page(scholar: Scholar, document_id: int, page: int, quote: str, key: str) -> None:
    """A PDF page with `quote` highlighted where it is found (for another kind of file, the
    page's text with the quote marked), and the original's download."""
    with reported_errors():
        original = scholar.original(document_id)
        if original.extension == ".pdf":
            shown = _page_image(scholar, str(original.path), document_id, page, quote)
            caption = f"Page {shown.page} of {shown.pages}"
            if not shown.highlighted:
                caption += " (the quote could not be located on the page image)"
            st.image(shown.image, caption=caption, width=PAGE_WIDTH)
        else:
            _page_text(str(original.path), original.extension, page, quote)
        st.download_button(
            f"Download {original.filename}",
            data=original.path.read_bytes,  # read when clicked, not on every rerun
            file_name=original.filename,
            key=f"download-{key}",
            on_click="ignore",
        )


@st.cache_data(max_entries=PAGES_KEPT, show_spinner="Drawing the page…")
def _page_image(
    _scholar: Scholar, original: str, document_id: int, page: int, quote: str
) -> PageImage:
    """`Scholar.page_image`, kept by the stored file (named by its content hash), page and
    quote: the same page is drawn once, not on every rerun of the app."""
    return _scholar.page_image(document_id, page, quote)


def _page_text(original: str, extension: str, page: int, quote: str) -> None:
    """The text of a page of a file that is not a PDF, escaped, with `quote` marked."""
    pages = _cleaned_pages(original, extension)
    if not 1 <= page <= len(pages):
        st.caption(f"The file has no page {page}.")
        return
    text, found = marked(pages[page - 1], quote)
    with st.container(border=True):
        st.markdown(text)
    caption = f"Page {page} of {len(pages)}" if len(pages) > 1 else "The text of the file"
    if not found:
        caption += " (the quote could not be located in it)"
    st.caption(caption)


@st.cache_data(max_entries=PAGES_KEPT, show_spinner="Reading the file…")
def _cleaned_pages(original: str, extension: str) -> list[str]:
    """The file's pages as ingestion cleaned them (the text its passages were cut from), kept
    by the stored file, which is named by its content hash."""
    return text_pages(Path(original), extension)


def marked(text: str, quote: str) -> tuple[str, bool]:
    """`text` as literal Markdown with the first occurrence of `quote` (whatever the whitespace
    between its words) on a highlighted background; whether it was found."""
    words = quote.split()
    found = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
    if found is None:
        return plain(text), False
    # A background directive cannot span lines: each line of the quote gets its own.
    lines = [
        f":orange-background[{plain(line)}]" if line.strip() else line
        for line in found.group().split("\n")
    ]
    return plain(text[: found.start()]) + "\n".join(lines) + plain(text[found.end() :]), True
