"""The split head and embeddings of the CPU default mode."""

from pathlib import Path

import torch

from model import GeneratorOptions, load_generator
from tests.model.conftest import TinyFactory


def test_a_bf16_checkpoint_keeps_its_embeddings(make_tiny: TinyFactory, tmp_path: Path) -> None:
    """Splitting a bf16 weight once zeroed it (its bf16 copy was the weight itself)."""
    folder, hf = make_tiny(seed=31)
    hf.to(torch.bfloat16).save_pretrained(str(folder))  # as Hugging Face ships most models
    ids = list(range(10, 60))  # prefill-sized: fp32 products with the exact bf16 weights
    logits = []
    for precision in ("auto", "fp32"):
        generator = load_generator(folder, tmp_path, GeneratorOptions(precision=precision))
        generator.engine.reserve(1, len(ids))
        logits.append(generator.engine.forward_all(torch.tensor([ids]), 0)[0])
    assert (logits[0] - logits[1]).abs().max() < 1e-4
