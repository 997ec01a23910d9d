"""The conversion cache: a GGUF becomes a Hugging Face folder once, and later loads read that.

A fresh GGUF conversion takes seconds to tens of seconds (dequantizing every tensor and building
the tokenizer from its token tables); the converted folder (fp32 safetensors, `config.json`,
`tokenizer.json`) loads in about a second and is itself a valid transformers checkpoint.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from model.tokenizer import Tokenizer
from model.weights import SINGLE_FILE, save_hf_folder

_COMPLETE = ("config.json", SINGLE_FILE, "tokenizer_config.json")


def cache_folder(gguf_path: Path, models_dir: Path) -> Path:
    """Where the conversion of `gguf_path` lives; a changed file gets a new folder."""
    stat = gguf_path.stat()
    key = f"{gguf_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return models_dir / f"{gguf_path.stem}-{digest}"


def is_converted(folder: Path) -> bool:
    return all((folder / name).exists() for name in _COMPLETE)


def converted_folder(gguf_path: Path, models_dir: Path) -> Path:
    """The Hugging Face folder for `gguf_path`, converting it first if this is its first use.

    The folder is written under a temporary name and renamed into place, so an interrupted
    conversion never leaves a half-written cache behind.
    """
    target = cache_folder(gguf_path, models_dir)
    if is_converted(target):
        return target
    # Imported here: GPU hosts that serve Hugging Face folders need not install `gguf`.
    from model.gguf_import import iter_gguf_tensors, read_gguf

    models_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".converting-", dir=models_dir))
    try:
        config, reader = read_gguf(gguf_path)
        save_hf_folder(scratch, config, dict(iter_gguf_tensors(reader, config)))
        del reader
        Tokenizer.from_gguf(gguf_path).save(scratch)
        try:
            os.replace(scratch, target)
        except OSError:
            if not is_converted(target):  # not merely another process finishing first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
