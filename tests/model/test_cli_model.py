"""`scholar generate` and `scholar models`, through the subcommands that app/cli_model.py adds."""

import argparse
import json
import shutil
from pathlib import Path

import pytest
from transformers import LlamaForCausalLM

from app.cli_model import add_model_commands
from app.service import Scholar
from app.settings import Settings
from model.bundled import bundled_generator_path


def run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="scholar")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    scholar = Scholar(settings)
    try:
        return args.handler(args, scholar)
    finally:
        scholar.store.dispose()


def settings_for(home: Path, generator: Path | None) -> Settings:
    environ = {"SCHOLAR_HOME": str(home), "SCHOLAR_EMBEDDER": str(home / "embedder")}
    if generator is not None:
        environ["SCHOLAR_GENERATOR"] = str(generator)
    return Settings.from_env(environ)


def test_generate_streams_a_completion(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = tiny
    settings = settings_for(tmp_path, None)
    argv = ["generate", "hello", "--model", str(folder), "--max-new-tokens", "5", "--chat"]
    assert run([*argv, "--device", "cpu"], settings) == 0
    assert capsys.readouterr().out.endswith("\n")


def test_generate_reports_a_bad_model_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, None)
    assert run(["generate", "hi", "--model", str(tmp_path / "nowhere")], settings) == 2
    assert "neither a GGUF file nor a Hugging Face model folder" in capsys.readouterr().err


def test_models_shows_default_cache_and_device(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, bundled_generator_path())
    shutil.copytree(tiny[0], settings.models_dir / "tiny")
    assert run(["models", "--device", "cpu", "--json"], settings) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["device"] == "cpu" and info["precision"]
    assert [entry["context"] for entry in info["cached"]] == [256]
    if info["default_model"] is not None:
        assert info["default_model"].endswith(".gguf") and info["default_converted"] is None
    assert run(["models", "--device", "cpu"], settings) == 0
    assert "models cache" in capsys.readouterr().out
