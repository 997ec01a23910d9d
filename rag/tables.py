"""Tables in a PDF's text: a row is a line of its own, a label then figures ("Author 55.2 42.6
48.1"), and is read with its table's caption ("Table 3: Evaluating CoreRecipe ...") and header,
the line of column names above the rows ("GROBIDCRF GROBIDNN RoBERTa I-VILA P R F1 ...").
Without them a row says nothing of what its figures measure, and without its own line it runs
on into the next row and the caption.
"""

import re

from rag.sentences import ends_sentence

# A figure as tables print it: "48.1", "(90.4%)", "73.4M", "20k", "<0.1", "-".
_FIGURE = re.compile(
    r"^\(?[<>~\u2264\u2265]?[-+\u2212]?\d[\d.,]*[%kKMBx\u00d7]?\)?%?$|^[-\u2013\u2014]$"
)
_SYMBOL = re.compile(r"^[<>=~\u2264\u2265]$")  # "Page width > height 0.28M"
ROW_FIGURE_SHARE = 0.25  # of a row's words (symbols aside), at least this share are figures
_CAPTION = re.compile(r"^Table\s+[A-Z]?\d+[:.]")
MAX_HEADER_WORDS = 40  # a longer line before the rows is prose, not a header


def is_table_row(line: str) -> bool:
    """Whether a line reads as a table's row: no sentence nor equation, ending in a figure,
    with a label before its figures and a share of figures no prose line has."""
    tokens = line.split()
    if len(tokens) < 2 or not _FIGURE.match(tokens[-1]) or _FIGURE.match(tokens[0]):
        return False
    if "=" in line:
        return False  # an equation and its number: "S = 2 x J x C J + C (1)"
    figures = sum(bool(_FIGURE.match(token)) for token in tokens)
    words = sum(not _SYMBOL.match(token) for token in tokens)
    return figures >= ROW_FIGURE_SHARE * words and not ends_sentence(line)


def is_table_header(line: str) -> bool:
    """Whether a line before a table's rows can be its header: column names, not a sentence."""
    words = line.split()
    return (
        0 < len(words) <= MAX_HEADER_WORDS
        and any(character.isalpha() for character in line)
        and not ends_sentence(line)
        and not is_table_row(line)
    )


def row_contexts(sentences: list[str]) -> list[str]:
    """For each of a passage's sentences in order, what its table row is read with: the table's
    caption ("Table 3: Evaluating CoreRecipe ...", above or below the table) and header, as far
    as the passage holds them; "" for a sentence that is no row."""
    rows = [is_table_row(sentence) for sentence in sentences]
    contexts = [""] * len(sentences)
    start = 0
    while start < len(sentences):
        if not rows[start]:
            start += 1
            continue
        end = start
        while end < len(sentences) and rows[end]:
            end += 1
        header = sentences[start - 1] if start and is_table_header(sentences[start - 1]) else ""
        above = start - (2 if header else 1)
        captions = [
            sentences[index]
            for index in (end, above)
            if 0 <= index < len(sentences) and _CAPTION.match(sentences[index])
        ]
        context = " ".join([*captions[:1], header]).strip()
        contexts[start:end] = [context] * (end - start)
        start = end
    return contexts
