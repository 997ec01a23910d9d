"""Token-aware chunking: sentences packed into chunks of about N tokens, each with its page span.

Chunks break at sentence ends, and at a page or paragraph end when one is near; consecutive
chunks on the same page share about `overlap_tokens` of trailing sentences. A sentence that a
page break cuts off (`goes_on_over_page`) stays whole, with the break inside it; every chunk's
first and last page are exact. A chunk that starts within a table's rows starts with the table's
header again, so that its rows say what they measure. A form feed inside a chunk's text marks
each page break, so the n-th page of a chunk's text is the text after its (n-1)-th form feed,
even where pages between have no text.
"""

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from rag.sentences import PAGE_BREAK, goes_on_over_page, split_sentences
from rag.tables import is_table_header, is_table_row

TokenCounter = Callable[[list[str]], list[int]]

PARAGRAPH_CUT_FILL = 0.6  # break early at a paragraph end once a chunk is this full
PAGE_CUT_FILL = 0.4  # and at a page end once it is this full
WORD_PIECE_CHARS = 64  # longer "words" (URLs, garbage) are cut so no piece outgrows a chunk


@dataclass(frozen=True)
class ChunkDraft:
    text: str
    page_start: int  # 1-based, inclusive
    page_end: int
    token_count: int


@dataclass(frozen=True)
class _Unit:
    text: str
    page: int  # where it starts
    tokens: int
    ends_paragraph: bool
    last_page: int  # where it ends: the next page for a sentence a page break cuts


def chunk_pages(
    pages: list[str], count_tokens: TokenCounter, chunk_tokens: int, overlap_tokens: int
) -> list[ChunkDraft]:
    """Chunks of cleaned pages (paragraphs separated by blank lines), in reading order."""
    units = _units(pages, count_tokens, chunk_tokens)
    chunks: list[ChunkDraft] = []
    start = 0
    while start < len(units):
        header = _table_header(units, start, chunk_tokens)
        end = _chunk_end(units, start, chunk_tokens - sum(unit.tokens for unit in header))
        chunks.append(_draft([*header, *units[start:end]]))
        if end == len(units):
            break
        start = _overlap_start(units, start, end, overlap_tokens)
    return chunks


def _chunk_end(units: list[_Unit], start: int, chunk_tokens: int) -> int:
    """Fill a chunk from units[start]: stop at a page end once it is PAGE_CUT_FILL full (for
    precise citations); when the next sentence would overflow it, step back to the last
    paragraph end that keeps it PARAGRAPH_CUT_FILL full."""
    end, filled = start, 0
    while end < len(units) and filled + units[end].tokens <= chunk_tokens:
        new_page = end > start and units[end].page != units[end - 1].last_page
        if new_page and filled >= PAGE_CUT_FILL * chunk_tokens:
            return end
        filled += units[end].tokens
        end += 1
    if end == len(units):
        return end
    for cut in range(end, start, -1):
        if filled < PARAGRAPH_CUT_FILL * chunk_tokens:
            break
        if units[cut - 1].ends_paragraph:
            return cut
        filled -= units[cut - 1].tokens
    return end


def _table_header(units: list[_Unit], start: int, chunk_tokens: int) -> list[_Unit]:
    """The header of the table whose rows units[start] continues, if on the same page and the
    chunk has room for it beside that row."""
    if start == 0 or not (is_table_row(units[start].text) and is_table_row(units[start - 1].text)):
        return []
    before = start - 1
    while before >= 0 and is_table_row(units[before].text):
        before -= 1
    if before < 0 or units[before].page != units[start].page:
        return []
    header = units[before]
    fits = header.tokens + units[start].tokens <= chunk_tokens
    return [header] if fits and is_table_header(header.text) else []


def _units(pages: list[str], count_tokens: TokenCounter, chunk_tokens: int) -> list[_Unit]:
    """Sentences of every page, with token counts; sentences longer than a chunk are split."""
    units: list[_Unit] = []
    for page_number, page in enumerate(pages, start=1):
        for paragraph in page.split("\n\n"):
            sentences = split_sentences(paragraph)
            units += [
                _Unit(sentence, page_number, 0, position == len(sentences) - 1, page_number)
                for position, sentence in enumerate(sentences)
            ]
    units = _joined_over_pages(units, count_tokens, chunk_tokens)
    counted = []
    for unit, tokens in zip(units, count_tokens([unit.text for unit in units]), strict=True):
        if tokens <= chunk_tokens:
            counted.append(replace(unit, tokens=tokens))
            continue
        pieces = _split_long(unit.text, count_tokens, chunk_tokens)
        for index, (piece, piece_tokens) in enumerate(pieces):
            last = index == len(pieces) - 1
            ends_paragraph, last_page = unit.ends_paragraph and last, unit.page
            counted.append(_Unit(piece, unit.page, piece_tokens, ends_paragraph, last_page))
    return counted


def _joined_over_pages(
    units: list[_Unit], count_tokens: TokenCounter, chunk_tokens: int
) -> list[_Unit]:
    """Each sentence that a page break cuts off joined with its rest on the next page, the break
    kept inside it, where the whole fits a chunk."""
    cut = [
        index
        for index, (last, first) in enumerate(itertools.pairwise(units))
        if first.page == last.page + 1 and goes_on_over_page(last.text, first.text)
    ]
    joined = [units[index].text + PAGE_BREAK + units[index + 1].text for index in cut]
    fitting: dict[int, str] = {}
    for index, text, tokens in zip(cut, joined, count_tokens(joined), strict=True):
        if tokens <= chunk_tokens and index - 1 not in fitting:  # one break a sentence
            fitting[index] = text
    result: list[_Unit] = []
    for index, unit in enumerate(units):
        if index - 1 in fitting:
            continue  # the rest of the sentence before
        if index in fitting:
            rest = units[index + 1]
            unit = replace(
                unit, text=fitting[index], ends_paragraph=rest.ends_paragraph, last_page=rest.page
            )
        result.append(unit)
    return result


def _split_long(text: str, count_tokens: TokenCounter, chunk_tokens: int) -> list[tuple[str, int]]:
    """Pieces of about equal size, so no piece is a stray last word or two."""
    words = [
        word[i : i + WORD_PIECE_CHARS]
        for word in text.split()
        for i in range(0, len(word), WORD_PIECE_CHARS)
    ]
    word_tokens = count_tokens(words)
    total = sum(word_tokens)
    target = math.ceil(total / math.ceil(total / chunk_tokens))  # the fewest even pieces
    pieces: list[tuple[str, int]] = []
    current: list[str] = []
    filled = 0
    for word, tokens in zip(words, word_tokens, strict=True):
        if current and (filled >= target or filled + tokens > chunk_tokens):
            pieces.append((" ".join(current), filled))
            current, filled = [], 0
        current.append(word)
        filled += tokens
    if current:
        pieces.append((" ".join(current), filled))
    return pieces


def _overlap_start(units: list[_Unit], start: int, end: int, overlap_tokens: int) -> int:
    """Where the next chunk starts: a few sentences back, but never back onto an earlier page,
    so a chunk's page span is that of its own text."""
    next_start, shared = end, 0
    while (
        next_start - 1 > start
        and units[next_start - 1].page == units[end].page
        and shared + units[next_start - 1].tokens <= overlap_tokens
    ):
        next_start -= 1
        shared += units[next_start].tokens
    return next_start


def _draft(units: list[_Unit]) -> ChunkDraft:
    parts = [units[0].text]
    for previous, unit in itertools.pairwise(units):
        if previous.last_page != unit.page:  # one break per page, pages without text included
            parts.append(PAGE_BREAK * (unit.page - previous.last_page))
        else:
            parts.append("\n" if previous.ends_paragraph else " ")
        parts.append(unit.text)
    return ChunkDraft(
        text="".join(parts),
        page_start=units[0].page,
        page_end=units[-1].last_page,
        token_count=sum(unit.tokens for unit in units),
    )
