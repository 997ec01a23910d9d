"""Sampling processors against transformers', seeded sampling, streaming text and stop strings."""

from pathlib import Path

import pytest
import torch
from transformers import (
    LlamaForCausalLM,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from model import GeneratorOptions, SamplingParams, load_generator
from model.sampling import penalize_repetition, top_k_filter, top_p_filter
from model.streaming import StopMatcher, StreamDecoder
from model.tokenizer import Tokenizer

MULTIBYTE = "naïve café — 日本語の文 🎉🚀 done"


def test_filters_match_transformers_processors() -> None:
    logits = torch.randn(3, 300, generator=torch.Generator().manual_seed(0)) * 3
    ids = torch.tensor([[1, 5, 9], [2, 2, 7], [299, 0, 4]])
    assert torch.equal(top_k_filter(logits, 20), TopKLogitsWarper(20)(ids, logits.clone()))
    assert torch.equal(top_p_filter(logits, 0.8), TopPLogitsWarper(0.8)(ids, logits.clone()))
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, ids, True)
    expected = RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone())
    assert torch.allclose(penalize_repetition(logits, seen, 1.3), expected)


def test_params_are_validated() -> None:
    for bad in ({"top_p": 0.0}, {"temperature": -1.0}, {"max_new_tokens": 0}, {"stop": ("",)}):
        with pytest.raises(ValueError):
            SamplingParams(**bad)


def test_stream_decoder_never_splits_a_character(byte_tokenizer_dir: Path) -> None:
    tokenizer = Tokenizer.from_folder(byte_tokenizer_dir)
    ids = tokenizer.encode(MULTIBYTE)
    assert len(ids) == len(MULTIBYTE.encode())  # one token per byte
    decoder = StreamDecoder(tokenizer.decode)
    pieces = [decoder.push(token) for token in ids]
    pieces.append(decoder.flush())
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) == MULTIBYTE


def test_stop_matcher_holds_back_a_partial_stop() -> None:
    matcher = StopMatcher(("</answer>", "STOP"))
    shown = [matcher.feed(piece) for piece in ["The result", " is 4.</ans", "wer> and more"]]
    assert shown == ["The result", " is 4.", ""]
    assert matcher.stopped and matcher.flush() == ""
    unfinished = StopMatcher(("STOP",))
    assert unfinished.feed("almost ST") == "almost "
    assert unfinished.flush() == "ST"


def test_seeded_sampling_is_reproducible_and_top_k_1_is_greedy(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path
) -> None:
    ours = load_generator(tiny[0], tmp_path, GeneratorOptions(precision="fp32"))
    prompt = list(range(30, 50))
    sampled = SamplingParams(
        max_new_tokens=24, temperature=1.5, top_p=0.95, seed=3, ignore_eos=True
    )
    first = ours.generate(prompt, sampled).token_ids
    assert first == ours.generate(prompt, sampled).token_ids
    other = SamplingParams(max_new_tokens=24, temperature=1.5, top_p=0.95, seed=4, ignore_eos=True)
    assert first != ours.generate(prompt, other).token_ids
    greedy = ours.generate(prompt, SamplingParams(max_new_tokens=24, ignore_eos=True)).token_ids
    top1 = SamplingParams(max_new_tokens=24, temperature=0.7, top_k=1, seed=5, ignore_eos=True)
    assert ours.generate(prompt, top1).token_ids == greedy
    penalized = SamplingParams(max_new_tokens=24, repetition_penalty=100.0, ignore_eos=True)
    new_tokens = ours.generate(prompt, penalized).token_ids
    assert len(set(new_tokens)) == len(new_tokens)  # an extreme penalty never repeats a token
    assert not set(new_tokens) & set(prompt)


def test_stream_pieces_join_to_the_generated_text(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path
) -> None:
    ours = load_generator(tiny[0], tmp_path, GeneratorOptions(precision="fp32"))
    params = SamplingParams(max_new_tokens=30, temperature=1.0, seed=1, ignore_eos=True)
    full = ours.generate("hello world", params)
    assert full.finish_reason == "length" and len(full.token_ids) == 30
    assert "".join(ours.stream("hello world", params)) == full.text
    assert full.text == ours.tokenizer.decode(full.token_ids)
