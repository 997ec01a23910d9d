from pathlib import Path

import pytest

from app.settings import Settings, SettingsError
from rag.embedder import bundled_embedder_path


def test_defaults_work_with_only_a_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"SCHOLAR_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.db_url == f"sqlite:///{tmp_path / 'scholar.db'}"
    assert settings.embedder_path == bundled_embedder_path()
    assert (settings.embedder_path / "config.json").is_file()
    assert settings.generator_path is not None and settings.generator_path.suffix == ".gguf"
    assert (settings.chunk_tokens, settings.chunk_overlap) == (254, 40)
    assert settings.cpu_plan == "auto"
    assert settings.files_dir == tmp_path / "files"
    assert settings.index_dir == tmp_path / "index"


def test_environment_overrides(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "SCHOLAR_HOME": str(tmp_path),
            "SCHOLAR_DB_URL": "postgresql+psycopg://u@localhost/scholar",
            "SCHOLAR_CHUNK_TOKENS": "128",
            "SCHOLAR_CHUNK_OVERLAP": "16",
            "SCHOLAR_EMBEDDER": "/models/embedder",
            "SCHOLAR_GENERATOR": "/models/llama",
            "SCHOLAR_CPU_PLAN": "AVX2",
        }
    )
    assert settings.db_url == "postgresql+psycopg://u@localhost/scholar"
    assert (settings.chunk_tokens, settings.chunk_overlap) == (128, 16)
    assert settings.embedder_path == Path("/models/embedder")
    assert settings.generator_path == Path("/models/llama")
    assert settings.cpu_plan == "avx2"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"SCHOLAR_CHUNK_TOKENS": "big"}, "SCHOLAR_CHUNK_TOKENS='big' is not a whole number"),
        ({"SCHOLAR_CHUNK_OVERLAP": "-3"}, "must not be negative"),
        ({"SCHOLAR_CHUNK_TOKENS": "40", "SCHOLAR_CHUNK_OVERLAP": "40"}, "must be smaller"),
        ({"SCHOLAR_CPU_PLAN": "avx"}, "SCHOLAR_CPU_PLAN='avx' is not one of auto, amx, "),
    ],
)
def test_bad_values_are_named(tmp_path: Path, environment: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"SCHOLAR_HOME": str(tmp_path), **environment})
