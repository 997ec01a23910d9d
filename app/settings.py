"""One settings object, read once from the environment; lower floors get plain values from it."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from ingest.ocr import OcrChoice, OcrConfig
from model.bundled import bundled_generator_path
from model.precision import CPU_PLANS, Precision
from rag.embedder import bundled_embedder_path

Number = TypeVar("Number", int, float)
PROMPT_STYLES = ("auto", "sentences", "passages")


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    embedder_path: Path
    generator_path: Path | None
    models_dir: Path  # converted model caches
    chunk_tokens: int = 254  # + [CLS] and [SEP] = the embedder's 256-token window
    chunk_overlap: int = 40
    embed_batch_size: int = 32
    max_file_mb: int = 200
    answer_sources: int = 5  # passages numbered in an answer's prompt (large models)
    # What an answer's prompt holds: "sentences" (the best evidence sentences, a short prompt a
    # small model follows), "passages" (whole passages, for a large model), or "auto": sentences
    # for a model run here under SMALL_MODEL_PARAMETERS, passages otherwise.
    prompt_style: str = "auto"
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 is greedy decoding
    generator_url: str | None = None  # an OpenAI-compatible server; None runs the model here
    generator_model: str | None = None  # the model that server is asked for; None: its first
    generator_tokenizer: Path | None = None  # the remote model's tokenizer, for exact counts
    generator_context: int = 4096  # the remote model's window, if its server does not say
    generator_api_key: str | None = None
    ocr: OcrChoice = OcrChoice.ON  # scanned pages: on (Tesseract if installed, else RapidOCR)
    ocr_max_pages: int = 100  # scanned pages OCRed per file
    ocr_max_seconds: float = 300.0  # no page OCRed after this long on one file
    cpu_plan: Precision = "auto"  # how the generator multiplies on a CPU (`model.precision`)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        home = Path(environ.get("SCHOLAR_HOME") or Path.home() / ".llama-scholar").expanduser()
        generator = environ.get("SCHOLAR_GENERATOR")
        tokenizer = environ.get("SCHOLAR_GENERATOR_TOKENIZER")
        settings = cls(
            home=home,
            db_url=environ.get("SCHOLAR_DB_URL") or f"sqlite:///{home / 'scholar.db'}",
            embedder_path=Path(environ.get("SCHOLAR_EMBEDDER") or bundled_embedder_path()),
            generator_path=Path(generator) if generator else bundled_generator_path(),
            models_dir=Path(environ.get("SCHOLAR_MODELS_DIR") or home / "models"),
            chunk_tokens=_number(environ, "SCHOLAR_CHUNK_TOKENS", cls.chunk_tokens),
            chunk_overlap=_number(environ, "SCHOLAR_CHUNK_OVERLAP", cls.chunk_overlap),
            embed_batch_size=_number(environ, "SCHOLAR_EMBED_BATCH", cls.embed_batch_size),
            max_file_mb=_number(environ, "SCHOLAR_MAX_FILE_MB", cls.max_file_mb),
            answer_sources=_number(environ, "SCHOLAR_ANSWER_SOURCES", cls.answer_sources),
            prompt_style=_choice(environ, "SCHOLAR_PROMPT", PROMPT_STYLES, cls.prompt_style),
            max_new_tokens=_number(environ, "SCHOLAR_MAX_NEW_TOKENS", cls.max_new_tokens),
            temperature=_number(environ, "SCHOLAR_TEMPERATURE", cls.temperature),
            generator_url=_url(environ, "SCHOLAR_GENERATOR_URL"),
            generator_model=environ.get("SCHOLAR_GENERATOR_MODEL") or None,
            generator_tokenizer=Path(tokenizer) if tokenizer else None,
            generator_context=_number(environ, "SCHOLAR_GENERATOR_CONTEXT", cls.generator_context),
            generator_api_key=environ.get("SCHOLAR_GENERATOR_API_KEY") or None,
            ocr=OcrChoice(
                _choice(environ, "SCHOLAR_OCR", tuple(c.value for c in OcrChoice), cls.ocr.value)
            ),
            ocr_max_pages=_number(environ, "SCHOLAR_OCR_MAX_PAGES", cls.ocr_max_pages),
            ocr_max_seconds=_number(environ, "SCHOLAR_OCR_MAX_SECONDS", cls.ocr_max_seconds),
            cpu_plan=_choice(environ, "SCHOLAR_CPU_PLAN", CPU_PLANS, cls.cpu_plan),
        )
        if settings.chunk_overlap >= settings.chunk_tokens:
            raise SettingsError(
                f"SCHOLAR_CHUNK_OVERLAP ({settings.chunk_overlap}) must be smaller than "
                f"SCHOLAR_CHUNK_TOKENS ({settings.chunk_tokens})"
            )
        if settings.ocr_max_pages < 1:
            raise SettingsError(
                "SCHOLAR_OCR_MAX_PAGES must be at least 1; to turn OCR off, set SCHOLAR_OCR=off"
            )
        return settings

    @property
    def ocr_config(self) -> OcrConfig:
        return OcrConfig(self.ocr, self.ocr_max_pages, self.ocr_max_seconds)

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"


def _number(environ: Mapping[str, str], name: str, default: Number) -> Number:
    """The variable as a number of the default's type; the default when unset."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {expected}; unset it or give one") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must not be negative")
    return value


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """The variable as one of `choices` (any case); the default when unset."""
    raw = (environ.get(name) or default).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def _url(environ: Mapping[str, str], name: str) -> str | None:
    """The variable as an http(s) URL; None when unset."""
    raw = environ.get(name)
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name}={raw!r} is not an http:// or https:// URL")
    return raw
