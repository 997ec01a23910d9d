"""The CPU default's head: a 4-bit copy finds the top logits, fp32 computes them."""

from pathlib import Path

import torch
import torch.nn.functional as F

from model import Generator, GeneratorOptions, SamplingParams, load_generator
from model.head import MARGIN_SIGMAS, ApproxHead, set_exact_logits
from tests.model.conftest import TinyFactory
from tests.model.test_default_model import paper_tokens


def final_states(generator: Generator, ids: list[int]) -> torch.Tensor:
    """The normalised last hidden states of `ids`, the head's inputs: (len(ids), dim)."""
    states: list[torch.Tensor] = []
    hook = generator.model.norm.register_forward_hook(lambda _m, _i, out: states.append(out[0]))
    generator.engine.reserve(1, len(ids))
    generator.engine.forward_all(torch.tensor([ids]), 0)
    hook.remove()
    return states[0]


def test_the_top_logits_are_fp32_on_real_text(default_auto: Generator) -> None:
    head = default_auto.model.output
    assert isinstance(head, ApproxHead)
    states = final_states(default_auto, paper_tokens(default_auto, 300))
    with torch.inference_mode():
        for start in range(0, len(states), 3):  # decode-sized products of 1 to 3 rows
            rows = states[start : start + 1 + start % 3]
            approx, exact = head(rows), F.linear(rows, head.weight)
            top = exact.argmax(dim=-1)
            assert torch.equal(approx.argmax(dim=-1), top)
            picked = approx.gather(1, top[:, None])
            assert torch.allclose(picked, exact.gather(1, top[:, None]), rtol=0, atol=1e-4)


def tiny_generator_and_head(
    make_tiny: TinyFactory, models_dir: Path, seed: int
) -> tuple[Generator, ApproxHead]:
    folder, _ = make_tiny(seed=seed)
    generator = load_generator(folder, models_dir, GeneratorOptions())
    head = generator.model.output
    assert isinstance(head, ApproxHead)
    return generator, head


def test_exact_mode_and_bounded_error_on_a_tiny_model(
    make_tiny: TinyFactory, tmp_path: Path
) -> None:
    _, head = tiny_generator_and_head(make_tiny, tmp_path, seed=41)
    rows = torch.randn(8, head.weight.shape[1])
    with torch.inference_mode():
        exact = F.linear(rows, head.weight)
        approx = head(rows)
        head.exact = True
        assert torch.equal(head(rows), exact)
        head.exact = False
    assert torch.equal(approx.argmax(dim=-1), exact.argmax(dim=-1))
    sigma = (rows.view(8, -1, 32).square().sum(-1) @ head.error_variance).sqrt()
    assert ((approx - exact).abs() <= MARGIN_SIGMAS * sigma[:, None]).all()


def test_sampling_and_the_repetition_penalty_read_exact_logits(
    make_tiny: TinyFactory, tmp_path: Path
) -> None:
    generator, head = tiny_generator_and_head(make_tiny, tmp_path, seed=43)
    prompt = list(range(10, 20))
    for params, exact in [
        (SamplingParams(max_new_tokens=3, temperature=0.8, seed=1), True),
        (SamplingParams(max_new_tokens=3), False),
        (SamplingParams(max_new_tokens=3, repetition_penalty=1.3), True),
    ]:
        generator.generate(prompt, params)
        assert head.exact is exact, params
    set_exact_logits(generator.model, False)
    assert not head.exact


def test_a_bf16_checkpoint_keeps_its_embeddings(make_tiny: TinyFactory, tmp_path: Path) -> None:
    """A bf16 table's split into halves once zeroed it; the fp32 table must be a copy."""
    folder, hf = make_tiny(seed=31)
    hf.to(torch.bfloat16).save_pretrained(str(folder))  # as Hugging Face ships most models
    ids = list(range(10, 60))  # prefill-sized: fp32 products with the exact bf16 weights
    logits = []
    for precision in ("avx2", "fp32"):  # fp32 prefill products
        generator = load_generator(folder, tmp_path, GeneratorOptions(precision=precision))
        generator.engine.reserve(1, len(ids))
        logits.append(generator.engine.forward_all(torch.tensor([ids]), 0)[0])
    assert (logits[0] - logits[1]).abs().max() < 1e-4
