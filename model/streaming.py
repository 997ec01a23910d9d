"""Turning a stream of token ids into a stream of text pieces, and holding back stop strings."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

REPLACEMENT = "\ufffd"


@dataclass
class StreamDecoder:
    """Incremental detokenization that never splits a multi-byte character.

    Each piece is the difference between decoding a short window ending at the new token and the
    same window without it; a decode ending in U+FFFD is an incomplete UTF-8 sequence, so the
    piece waits for the next token. Decoding a window (rather than the lone token) keeps the
    spaces that SentencePiece tokenizers attach to word starts.
    """

    decode: Callable[[Sequence[int]], str]
    ids: list[int] = field(default_factory=list)
    prefix: int = 0
    read: int = 0

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        before = self.decode(self.ids[self.prefix : self.read])
        after = self.decode(self.ids[self.prefix :])
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character shows as U+FFFD)."""
        before = self.decode(self.ids[self.prefix : self.read])
        after = self.decode(self.ids[self.prefix :])
        self.prefix = self.read = len(self.ids)
        return after[len(before) :]


@dataclass
class StopMatcher:
    """Passes text through until a stop string appears; holds back a possible stop prefix."""

    stops: tuple[str, ...]
    held: str = ""
    stopped: bool = False

    def feed(self, piece: str) -> str:
        """The text safe to show now; sets `stopped` once a stop string is complete."""
        if self.stopped:
            return ""
        text = self.held + piece
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped, self.held = True, ""
            return text[: min(hits)]
        keep = max((_overlap(text, s) for s in self.stops), default=0)
        self.held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        text, self.held = self.held, ""
        return "" if self.stopped else text


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `stop`."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-n:]):
            return n
    return 0
