"""Our network against transformers' LlamaForCausalLM on tiny random configs (fp32, exact mode)."""

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaForCausalLM

from model import Generator, GeneratorOptions, SamplingParams, load_generator
from model import engine as engine_module
from tests.model.conftest import TINY_VOCAB, TinyFactory

EXACT = GeneratorOptions(precision="fp32")
CONFIGS: dict[str, dict[str, Any]] = {
    "gqa": {},
    "multi-head": {"num_key_value_heads": 4},
    "tied-embeddings": {"tie_word_embeddings": True},
    "llama3-rope": {
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        }
    },
    "linear-rope": {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}},
}


def tokens(seed: int, length: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (length,), generator=generator).tolist()


def all_logits(ours: Generator, ids: list[int]) -> torch.Tensor:
    ours.engine.reserve(1, len(ids))
    return ours.engine.forward_all(torch.tensor([ids]), 0)[0]


def hf_greedy(hf: LlamaForCausalLM, ids: list[int], new: int) -> list[int]:
    with torch.inference_mode():
        out = hf.generate(
            torch.tensor([ids]), max_new_tokens=new, do_sample=False, eos_token_id=None
        )
    return out[0, len(ids) :].tolist()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_and_greedy_tokens_match_transformers(
    name: str, make_tiny: TinyFactory, tmp_path: Path
) -> None:
    folder, hf = make_tiny(seed=len(name), **CONFIGS[name])
    ours = load_generator(folder, tmp_path, EXACT)
    ids = tokens(1, 120)
    with torch.inference_mode():
        expected = hf(torch.tensor([ids])).logits[0]
    assert (all_logits(ours, ids) - expected).abs().max().item() < 1e-4

    prompt = ids[:20]
    params = SamplingParams(max_new_tokens=40, ignore_eos=True)
    assert ours.generate(prompt, params).token_ids == hf_greedy(hf, prompt, 40)


def test_kv_cache_decode_equals_full_recompute(tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path):
    folder, _ = tiny
    ours = load_generator(folder, tmp_path, EXACT)
    ids = tokens(2, 48)
    full = all_logits(ours, ids)
    engine = ours.engine
    engine.reserve(1, len(ids))
    stepwise = [engine.prefill(torch.tensor([ids[:8]]), torch.tensor([0]))[0]]
    for slot in range(8, len(ids) - 1):
        stepwise.append(engine.decode(torch.tensor([ids[slot]]), slot)[0])
    assert (torch.stack(stepwise) - full[7 : len(ids) - 1]).abs().max().item() < 1e-5


@pytest.mark.parametrize("row_at_a_time", [False, True], ids=["padded-batch", "row-at-a-time"])
def test_batch_of_different_lengths_matches_single_prompts_and_transformers(
    row_at_a_time: bool,
    tiny: tuple[Path, LlamaForCausalLM],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    alone_prefills: list[tuple[int, int, int]],
) -> None:
    """A padded batch is prefilled together, or each row alone when it is wide (ALONE_FROM)."""
    folder, hf = tiny
    ours = load_generator(folder, tmp_path, EXACT)
    prompts = [tokens(3, 5), tokens(4, 23), tokens(5, 12)]
    params = SamplingParams(max_new_tokens=16, ignore_eos=True)
    single = [ours.generate(p, params).token_ids for p in prompts]
    monkeypatch.setattr(engine_module, "ALONE_FROM", 23 if row_at_a_time else 24)
    alone_prefills.clear()
    steps: list[int] = []
    batch = [c.token_ids for c in ours.generate_batch(prompts, params, steps.append)]
    assert batch == single
    assert steps == list(range(1, 17))
    expected_rows = [(0, 23, 5), (1, 23, 23), (2, 23, 12)] if row_at_a_time else []
    assert alone_prefills == expected_rows

    width = max(len(p) for p in prompts)
    pad = 258
    padded = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = (padded != pad).long()
    with torch.inference_mode():
        out = hf.generate(
            padded, attention_mask=mask, max_new_tokens=16, do_sample=False, pad_token_id=pad
        )
    assert batch == out[:, width:].tolist()


def test_sharded_checkpoint_loads(make_tiny: TinyFactory, tmp_path: Path) -> None:
    folder, hf = make_tiny(seed=7, shard=True)
    assert (folder / "model.safetensors.index.json").exists()
    ours = load_generator(folder, tmp_path, EXACT)
    ids = tokens(6, 30)
    with torch.inference_mode():
        expected = hf(torch.tensor([ids])).logits[0]
    assert (all_logits(ours, ids) - expected).abs().max().item() < 1e-4


def test_context_window_and_overlong_prompt(tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path):
    ours = load_generator(tiny[0], tmp_path, EXACT)
    assert ours.context_window == 256
    assert ours.model.config.vocab_size == TINY_VOCAB
    with pytest.raises(ValueError, match="context window of 256"):
        ours.generate(tokens(8, 250), SamplingParams(max_new_tokens=10))


def test_static_shape_decode_used_under_cuda_graphs_matches_eager(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path
) -> None:
    """The captured path attends over the whole preallocated cache, masked; same logits."""
    ours = load_generator(tiny[0], tmp_path, EXACT)
    prompts = [tokens(9, 12), tokens(10, 7)]
    params = SamplingParams(max_new_tokens=12, ignore_eos=True)
    eager = ours.generate_batch(prompts, params)
    ours.engine.captured = True  # as on CUDA, minus the compilation
    assert ours.generate_batch(prompts, params) == eager
