"""A model that repeats itself: the same words written back to back until the token limit.

Greedy decoding of a small model falls into such loops ("S2ORC, p. 8: [4] S2ORC, p. 8: [4] ...",
or a numbered list whose items differ only by their numbers). Written text never repeats a unit
of a few words back to back, so the end of a text is a loop when it is the same unit, digits
aside, written at least twice (three times for a short unit, which lists of references can
repeat legitimately). The answer then stops (`until_loop`), and keeps the unit once
(`loop_end`).
"""

import re
from collections.abc import Iterable, Iterator

from rag.sentences import ends_sentence

MIN_UNIT_CHARS = 12  # "[1] [2] [3] " is shorter: citation runs are not loops
SHORT_UNIT_CHARS = 40  # a unit shorter than this must come three times, a longer one twice
MAX_UNIT_CHARS = 400
_DIGIT = re.compile(r"\d")
_NEXT_SENTENCE_END = re.compile(r"[.!?\]][\"')]*(?=\s|$)")


def until_loop(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces of a text as they come, until the text ends in a loop (the piece that
    completes the loop is the last): the source is not read further, so generation stops."""
    written = ""
    for piece in pieces:
        yield piece
        written += piece
        if loop_end(written) is not None:
            return


def loop_end(text: str) -> int | None:
    """Where to cut `text` when it ends in a loop (after the loop's first unit, at the end of a
    sentence where one ends within the next unit), else None."""
    normal = _DIGIT.sub("#", text)  # same length: an index into it is an index into `text`
    length = len(normal)
    for unit in _periods(normal):
        copies = 3 if unit < SHORT_UNIT_CHARS else 2
        if unit * copies > length or any(
            normal[length - (copy + 1) * unit : length - copy * unit] != normal[length - unit :]
            for copy in range(1, copies)
        ):
            continue
        start = length - copies * unit
        # The loop began where the text first follows the period, perhaps mid-unit.
        while start > 0 and normal[start - 1] == normal[start - 1 + unit]:
            start -= 1
        kept = text[: start + unit].rstrip()
        at_line_end = "\n" in text[len(kept) : start + unit]
        if not at_line_end and not ends_sentence(kept, also=":]"):
            following = _NEXT_SENTENCE_END.search(text, len(kept), start + 2 * unit)
            kept = text[: following.end()] if following else kept
        return len(kept)
    return None


def _periods(normal: str) -> Iterator[int]:
    """Candidate units, shortest first: the distances back to earlier copies of the text's last
    MIN_UNIT_CHARS characters (one string search, where trying every length is 400 slices)."""
    length = len(normal)
    if length < 2 * MIN_UNIT_CHARS:
        return
    tail_start = length - MIN_UNIT_CHARS
    tail, earliest = normal[tail_start:], max(0, tail_start - MAX_UNIT_CHARS)
    found = normal.rfind(tail, earliest, tail_start)  # copies before the tail, not overlapping
    while found != -1:
        yield tail_start - found
        found = normal.rfind(tail, earliest, found + MIN_UNIT_CHARS - 1)
