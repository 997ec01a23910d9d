"""Page text clean-up: running headers and footers, hyphenation, whitespace, paragraphs.

A cleaned page is its paragraphs, each on one line, separated by blank lines.
"""

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

from rag.tables import is_table_row

EDGE_LINES = 6  # how many lines at the top and bottom of a page can be a running header/footer
RUNNING_SHARE = 0.5  # a line on at least this share of pages is running, not content
MIN_PAGES_FOR_RUNNING = 3
NUMBERED_RUNNING_WORDS = 6  # "Page 3 of 12", "IRM 2.3.59": short lines may differ by numbers
MISREAD_SIMILARITY = 0.9  # a running line read by OCR with a wrong letter or two is running
MIN_MISREAD_LENGTH = 16  # ... where it is long enough for one letter not to make another line
_OUTER_PAGE_NUMBER = re.compile(r"^\d{1,4}\s+|\s+\d{1,4}$")

# pypdf emits accents of LaTeX fonts as a spacing mark before the letter: "F¨arber" for "Färber"
# (and "na¨\u0131ve", with a dotless i, for "naïve").
_SPACING_ACCENTS = {"\u00a8": "\u0308", "\u00b4": "\u0301", "\u02c6": "\u0302", "\u02dc": "\u0303"}
_DETACHED_ACCENT = re.compile(f"([{''.join(_SPACING_ACCENTS)}])([A-Za-z\u0131])")
# Fake bold: every glyph drawn twice at a small offset, read as "B B O O L L D D" (or "BBOOLLDD").
# Three or more doubled glyphs in a row are taken as one; shorter runs can be real text.
MIN_DOUBLED_GLYPHS = 3
_DOUBLED_SPACED = re.compile(r"(?<!\S)(\S) \1(?: (\S) \2){2,}(?!\S)")
_DOUBLED_JOINED = re.compile(r"\b(?:(\w)\1){3,}\b")
_CAMEL_BOUNDARY = re.compile(r"(?<=[A-Z]{2})(?=[A-Z][a-z])")  # "SAMPLETesting": lost space
# Some LaTeX fonts map the "ff" ligature to U+21B5 (an arrow), as in "e↵orts".
_FF_LIGATURE = re.compile(r"(?<=\w)\u21b5|\u21b5(?=\w)")
# A hyphen that ends a line: a word split ("knowl-\nedge", "GRO-\nBID") or a compound broken
# at its own hyphen ("image-\nbased", "state-of-the-\nart", "just-\nin-time", "non-\nEnglish").
_LINE_END_HYPHEN = re.compile(r"((?:\w+-)*)(\w+)-\n(?!\d+(?:\n|$))(\w+)((?:-\w+)*)")
_PAGE_END_HYPHEN = re.compile(r"\w-$")
_WORD = re.compile(r"\w+")
_COMPOUND = re.compile(r"\w+(?:-\w+)+")
MIN_COMPOUND_PART = 3  # "image-based" but not "to-day" or "en-able", without other evidence
_ADVERB = re.compile(
    r"[a-z]{3,}ly", re.IGNORECASE
)  # "automatically-", but not "poly-" (as in "polyethylene")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]?$")
# "8 Conclusion", "2.1 Processing PDFs", "IV. RESULTS", an appendix's "C The paper clustering
# problem" or "A.2 Additional Protocols": a numbered heading on a short line of its own. Joined to
# the next line it would start that paragraph's first sentence ("8 Conclusion We introduce..."),
# which then reads as a claim about the number 8; joined to the line before, a caption without a
# full stop would run on into it.
_NUMBERED_HEADING = re.compile(
    r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,4}\.|[A-H](?:\.\d{1,2})*)\s+[A-Z][^.!?:;]{0,60}$"
)
# A paper's unnumbered headings, alone on a line. Joined to its neighbours, "Abstract" would glue
# the venue, title and authors above it to the abstract's first sentence, the paper's main claim.
_NAMED_HEADING = re.compile(
    r"^(?:abstract|keywords|introduction|background|related work|conclusions?|discussion"
    r"|acknowledge?ments?|references|bibliography|appendix)[.:]?$",
    re.IGNORECASE,
)


def clean_pages(pages: list[str]) -> list[str]:
    page_lines = [_lines(_normalize(page)) for page in pages]
    running = _running_lines(page_lines)
    kept_pages = []
    for lines in page_lines:
        edges = set(_edges(lines))
        kept_pages.append(
            [line for line in lines if line not in edges or not _is_running(line, running)]
        )
    # Hyphens are read once running lines are gone: "cor-" then a footer is no compound.
    texts = ["\n".join(lines) for lines in kept_pages]
    spellings = _Spellings.of(texts)
    kept_pages = [_LINE_END_HYPHEN.sub(spellings.rejoin, text).split("\n") for text in texts]
    for page, following in pairwise(kept_pages):
        _join_word_across_pages(page, following, spellings)
    return [_paragraphs(kept) for kept in kept_pages]


@dataclass(frozen=True)
class _Spellings:
    """The words and hyphenated compounds a document uses away from line ends (lower case): how
    it spells a word elsewhere tells a split word from a compound at a line-end hyphen."""

    words: frozenset[str]
    compounds: frozenset[str]

    @classmethod
    def of(cls, texts: list[str]) -> "_Spellings":
        rest = " ".join(_LINE_END_HYPHEN.sub(" ", text) for text in texts).lower()
        return cls(frozenset(_WORD.findall(rest)), frozenset(_COMPOUND.findall(rest)))

    def rejoin(self, match: re.Match[str]) -> str:
        """The text of a line-end hyphen match, the line break removed: the spelling the
        document uses elsewhere; else a hyphen before a capital or a digit ("non-English",
        "3-5"), after an adverb ("aggressively-cleaned") or between two words it uses
        ("image-based"); else one word."""
        before, left, right, after = match.groups()
        compound = f"{before}{left}-{right}{after}"
        if compound.lower() in self.compounds or right[0].isdigit():
            return compound
        if (left + right).lower() in self.words:
            return f"{before}{left}{right}{after}"
        if (
            right[0].isupper()
            or _ADVERB.fullmatch(left)
            or all(
                len(part) >= MIN_COMPOUND_PART and part.lower() in self.words
                for part in (left, right)
            )
        ):
            return compound
        return f"{before}{left}{right}{after}"


def _normalize(page: str) -> str:
    page = _DETACHED_ACCENT.sub(
        lambda match: match[2].replace("\u0131", "i") + _SPACING_ACCENTS[match[1]], page
    )
    text = unicodedata.normalize("NFKC", page).replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\u00ad", "")  # soft hyphens


def _lines(text: str) -> list[str]:
    lines = _join_doubled_glyph_lines(text.split("\n"))
    return [_repair_glyphs(_SPACES.sub(" ", line).strip()) for line in lines]


def _join_word_across_pages(page: list[str], following: list[str], spellings: _Spellings) -> None:
    """A word hyphenated at the end of a page ("cor-" / "pus contains") is completed on the page
    where it starts; the next page then starts after it."""
    last = next((index for index in reversed(range(len(page))) if page[index]), None)
    first = next((index for index, line in enumerate(following) if line), None)
    if last is None or first is None:
        return
    if not _PAGE_END_HYPHEN.search(page[last]) or not following[first][:1].islower():
        return
    word, _, rest = following[first].partition(" ")
    page[last] = _LINE_END_HYPHEN.sub(spellings.rejoin, f"{page[last]}\n{word}")
    if rest:
        following[first] = rest
    else:
        del following[first]


def _join_doubled_glyph_lines(lines: list[str]) -> list[str]:
    """Fake bold can also come out one glyph per line, each twice ("B", "B", "O", "O", ...,
    " ", " " between words): such a run becomes one line of its glyphs, once each."""
    joined: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if len(line) == 1:
            run.append(line)
            continue
        pairs = len(run) // 2
        doubled = len(run) % 2 == 0 and all(run[2 * i] == run[2 * i + 1] for i in range(pairs))
        if doubled and pairs >= MIN_DOUBLED_GLYPHS:
            joined.append(_CAMEL_BOUNDARY.sub(" ", "".join(run[::2])))
        else:
            joined += run
        run = []
        joined.append(line)
    return joined[:-1]


def _repair_glyphs(line: str) -> str:
    line = _FF_LIGATURE.sub("ff", line)
    line = _DOUBLED_SPACED.sub(lambda match: _CAMEL_BOUNDARY.sub(" ", match[0][::4]), line)
    return _DOUBLED_JOINED.sub(lambda match: match[0][::2], line)


def _signature(line: str) -> str:
    """Page numbers change from page to page, and a book prints them on the outer side, left
    on even pages and right on odd ("52 THE SIEGE OF VICKSBURG.", "THE SIEGE OF VICKSBURG.
    53"); the rest of a running line does not change."""
    if len(line.split()) > NUMBERED_RUNNING_WORDS:
        return line  # long lines must repeat exactly: numbered content lines are not running
    return re.sub(r"\d+", "#", _OUTER_PAGE_NUMBER.sub("", line.lower()))


def _is_running(line: str, running: set[str]) -> bool:
    """Whether a line at a page's edge is a running one, or one misread by OCR by a letter or
    two ("THE SIEGE OP VICKSBURG. 53")."""
    signature = _signature(line)
    return signature in running or any(
        len(signature) >= MIN_MISREAD_LENGTH
        and SequenceMatcher(None, signature, known).ratio() >= MISREAD_SIMILARITY
        for known in running
    )


def _running_lines(page_lines: list[list[str]]) -> set[str]:
    if len(page_lines) < MIN_PAGES_FOR_RUNNING:
        return set()
    counts: Counter[str] = Counter()
    for lines in page_lines:
        counts.update({_signature(line) for line in _edges(lines)})
    threshold = max(2, RUNNING_SHARE * len(page_lines))
    return {signature for signature, count in counts.items() if count >= threshold}


def _edges(lines: list[str]) -> list[str]:
    content = [line for line in lines if line]
    return content[:EDGE_LINES] + content[-EDGE_LINES:]


def _table_rows(lines: list[str]) -> set[int]:
    """Indexes of the lines that are a table's rows: rows come two or more together, with at
    most a wrapped label between them ("Macro Avg" / "(Full S2-VL) 40.6 38.3 39.1")."""
    rows = {index for index, line in enumerate(lines) if is_table_row(line)}
    return {index for index in rows if rows & {index - 2, index - 1, index + 1, index + 2}}


def _paragraphs(lines: list[str]) -> str:
    """Join wrapped lines; a blank line, or a short line that ends a sentence, ends a paragraph;
    a heading (numbered, or a named one such as "Abstract") and each row of a table are
    paragraphs of their own, a row with its label's wrapped first line."""
    widths = sorted(len(line) for line in lines if line)
    typical_width = widths[len(widths) // 2] if widths else 0
    rows = _table_rows(lines)
    paragraphs: list[str] = []
    current: list[str] = []
    for index, line in enumerate(lines):
        if index in rows:
            wrapped_label = len(current) == 1 and index - 2 in rows and lines[index - 1]
            if current and not wrapped_label:
                paragraphs.append(" ".join(current))
                current = []
            paragraphs.append(" ".join([*current, line]))
            current = []
            continue
        short = len(line) < 0.7 * typical_width
        heading = short and (
            _NUMBERED_HEADING.match(line) is not None or _NAMED_HEADING.match(line) is not None
        )
        if heading and current:
            paragraphs.append(" ".join(current))
            current = []
        if line:
            current.append(line)
        ends_paragraph = not line or heading or (_SENTENCE_END.search(line) is not None and short)
        if ends_paragraph and current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)
