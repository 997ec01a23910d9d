"""Names of uploaded files are untrusted: they are only ever shown, never used as paths.

Originals are stored under their content hash (see `pipeline.original_path`); the name kept for
display loses any folders, control and bidirectional-override characters, and excess length.
"""

import re
import unicodedata

MAX_NAME_CHARACTERS = 255
_FOLDERS = re.compile(r"^.*[/\\]")  # "../../etc/x.pdf", "C:\\Users\\x.pdf", "/abs/x.pdf"


def display_name(filename: str) -> str:
    """The name to show for an upload: its last component, printable, at most 255 characters,
    its extension kept ("unnamed" when nothing is left)."""
    name = " ".join(unicodedata.normalize("NFC", _FOLDERS.sub("", filename)).split())
    # Cc: control characters (newlines, escape sequences); Cf: format characters, among them the
    # bidirectional overrides that make "exe.pdf" read as "fdp.exe".
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf"}).strip()
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    stem = stem.strip(". ") or "unnamed"
    return stem[: MAX_NAME_CHARACTERS - len(suffix)] + suffix
