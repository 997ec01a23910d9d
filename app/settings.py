"""One settings object, read once from the environment; lower floors get plain values from it."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model.bundled import bundled_generator_path
from rag.embedder import bundled_embedder_path


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    embedder_path: Path
    generator_path: Path | None
    chunk_tokens: int = 254  # + [CLS] and [SEP] = the embedder's 256-token window
    chunk_overlap: int = 40
    embed_batch_size: int = 32
    max_file_mb: int = 200

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        home = Path(environ.get("SCHOLAR_HOME") or Path.home() / ".llama-scholar").expanduser()
        generator = environ.get("SCHOLAR_GENERATOR")
        settings = cls(
            home=home,
            db_url=environ.get("SCHOLAR_DB_URL") or f"sqlite:///{home / 'scholar.db'}",
            embedder_path=Path(environ.get("SCHOLAR_EMBEDDER") or bundled_embedder_path()),
            generator_path=Path(generator) if generator else bundled_generator_path(),
            chunk_tokens=_int(environ, "SCHOLAR_CHUNK_TOKENS", cls.chunk_tokens),
            chunk_overlap=_int(environ, "SCHOLAR_CHUNK_OVERLAP", cls.chunk_overlap),
            embed_batch_size=_int(environ, "SCHOLAR_EMBED_BATCH", cls.embed_batch_size),
            max_file_mb=_int(environ, "SCHOLAR_MAX_FILE_MB", cls.max_file_mb),
        )
        if settings.chunk_overlap >= settings.chunk_tokens:
            raise SettingsError(
                f"SCHOLAR_CHUNK_OVERLAP ({settings.chunk_overlap}) must be smaller than "
                f"SCHOLAR_CHUNK_TOKENS ({settings.chunk_tokens})"
            )
        return settings

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number; unset it or give one") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value
