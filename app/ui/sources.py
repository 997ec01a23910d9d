"""An answer's sources: each cited passage with its quotes, and the PDF page it is on with the
quotes highlighted (for other files, the page's text with the quotes marked), opened on demand."""

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st
from PIL import ImageChops

from app.export import Citation, cited_sources
from app.page_view import PageImage, text_pages
from app.service import Scholar
from app.ui.common import plain, reported_errors

CLOSEST_PASSAGES = 3  # shown when an answer cites nothing
PAGE_WIDTH = 760  # pixels: a whole page readable without scrolling far; less in a narrow window
PAGES_KEPT = 32  # rendered pages kept across reruns, so an open page is not drawn again


def render_sources(scholar: Scholar, details: Mapping[str, Any], key: str) -> None:
    """The sources one answer cites, in its text or its evidence (`details` is
    `Answer.to_json()`), or, when it cites none, the closest passages that were retrieved."""
    sources = cited_sources([*details.get("citations", []), *details.get("evidence", [])])
    if sources:
        st.markdown("**Sources**")
        for quotes in sources:
            _source(scholar, quotes, f"{key}-{quotes[0]['n']}")
    else:
        st.markdown("**Closest passages**")
        for passage in details.get("retrieved", [])[:CLOSEST_PASSAGES]:
            label = f"{passage['title']} · p. {passage['page_start']}"
            with st.expander(plain(label)):
                st.text(passage["text"])


def render_evidence(evidence: Sequence[Citation]) -> None:
    if not evidence:
        return
    st.markdown("**From the sources**")
    for citation in evidence:
        st.markdown(
            f"> {plain(citation['quote'])} :blue-badge[{int(citation['n'])}]  \n"
            f"> — {plain(citation['title'])}, p. {int(citation['page'])}"
        )


def _source(scholar: Scholar, quotes: list[Citation], key: str) -> None:
    first = quotes[0]
    page = int(first["page"])
    label = f"[{int(first['n'])}] {first['title']} · p. {page}"
    with st.expander(plain(label)):
        for citation in quotes:
            elsewhere = "" if int(citation["page"]) == page else f" (p. {int(citation['page'])})"
            st.markdown(f"> {plain(citation['quote'])}{elsewhere}")
        st.caption(plain(first["filename"]))
        is_pdf = str(first["filename"]).lower().endswith(".pdf")
        if st.toggle(f"Show page {page}" if is_pdf else "Show the text", key=f"page-{key}"):
            on_page = [str(cited["quote"]) for cited in quotes if int(cited["page"]) == page]
            _page(scholar, first, page, on_page, key)


def _page(scholar: Scholar, citation: Citation, page: int, quotes: Sequence[str], key: str) -> None:
    with reported_errors():
        filename = str(citation["filename"])
        document_id = scholar.cited_document(int(citation["document_id"]), filename, quotes[0])
        show_page(scholar, document_id, page, quotes, key)


def show_page(
    scholar: Scholar, document_id: int, page: int, quotes: Sequence[str], key: str
) -> None:
    """A PDF page with `quotes` highlighted where they are found (for another kind of file, the
    page's text with the quotes marked), and the original's download."""
    with reported_errors():
        original = scholar.original(document_id)
        if original.extension == ".pdf":
            _pdf_page(scholar, str(original.path), document_id, page, quotes)
        else:
            _page_text(str(original.path), original.extension, page, quotes)
        st.download_button(
            f"Download {original.filename}",
            data=original.path.read_bytes,  # read when clicked, not on every rerun
            file_name=original.filename,
            key=f"download-{key}",
            on_click="ignore",
        )


def _pdf_page(
    scholar: Scholar, original: str, document_id: int, page: int, quotes: Sequence[str]
) -> None:
    """The page drawn once per quote, each with its quote highlighted; the drawings combined by
    keeping the darker pixel, which keeps every highlight."""
    drawn = [_page_image(scholar, original, document_id, page, quote) for quote in quotes]
    image = drawn[0].image
    for other in drawn[1:]:
        image = ImageChops.darker(image, other.image)
    caption = f"Page {drawn[0].page} of {drawn[0].pages}"
    caption += _unlocated(sum(not shown.highlighted for shown in drawn), len(drawn), "page image")
    with st.container(width=PAGE_WIDTH):  # narrower where the window is
        st.image(image, caption=caption, width="stretch")


def _unlocated(missing: int, quotes: int, where: str) -> str:
    """A caption's note on the quotes not found on the page, if any."""
    if not missing:
        return ""
    if quotes == 1:
        return f" (the quote could not be located on the {where})"
    return f" ({missing} of the {quotes} quotes could not be located on the {where})"


@st.cache_data(max_entries=PAGES_KEPT, show_spinner="Drawing the page…")
def _page_image(
    _scholar: Scholar, original: str, document_id: int, page: int, quote: str
) -> PageImage:
    """`Scholar.page_image`, kept by the stored file (named by its content hash), page and
    quote: the same page is drawn once, not on every rerun of the app."""
    return _scholar.page_image(document_id, page, quote)


def _page_text(original: str, extension: str, page: int, quotes: Sequence[str]) -> None:
    """The text of a page of a file that is not a PDF, escaped, with `quotes` marked."""
    pages = _cleaned_pages(original, extension)
    if not 1 <= page <= len(pages):
        st.caption(f"The file has no page {page}.")
        return
    text, found = marked(pages[page - 1], quotes)
    with st.container(border=True):
        st.markdown(text)
    caption = f"Page {page} of {len(pages)}" if len(pages) > 1 else "The text of the file"
    st.caption(caption + _unlocated(len(quotes) - found, len(quotes), "page"))


@st.cache_data(max_entries=PAGES_KEPT, show_spinner="Reading the file…")
def _cleaned_pages(original: str, extension: str) -> list[str]:
    """The file's pages as ingestion cleaned them (the text its passages were cut from), kept
    by the stored file, which is named by its content hash."""
    return text_pages(Path(original), extension)


def marked(text: str, quotes: Sequence[str]) -> tuple[str, int]:
    """`text` as literal Markdown with the first occurrence of each of `quotes` (whatever the
    whitespace between its words) on a highlighted background; how many were found."""
    spans = sorted(span for span in (_found(text, quote) for quote in quotes) if span)
    parts: list[str] = []
    last = 0
    for start, end in spans:
        if start < last:  # overlaps a quote marked already
            continue
        parts += [plain(text[last:start]), _highlighted(text[start:end])]
        last = end
    parts.append(plain(text[last:]))
    return "".join(parts), len(spans)


def _found(text: str, quote: str) -> tuple[int, int] | None:
    words = quote.split()
    found = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
    return found.span() if found else None


def _highlighted(passage: str) -> str:
    # A background directive cannot span lines: each line of the passage gets its own.
    return "\n".join(
        f":orange-background[{plain(line)}]" if line.strip() else line
        for line in passage.split("\n")
    )
