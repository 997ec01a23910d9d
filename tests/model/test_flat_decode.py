"""The CPU default's flat decode step against the network's modules, on the real default model."""

import torch
from torch import Tensor

from model import Generator, SamplingParams
from model.flat_decode import FlatDecodeStep
from tests.model.test_default_model import paper_tokens

Steps = list[tuple[int, tuple[int, ...]]]


def modules_decode(generator: Generator, tokens: Tensor, slot: int, firsts: list[int]) -> Tensor:
    """The logits of `tokens` (rows,) at `slot` through `Transformer.forward`."""
    with torch.inference_mode(), generator.model.cache_part(slice(0, len(firsts))):
        logits = generator.model(
            tokens.view(-1, 1),
            torch.tensor([slot]),
            torch.tensor(firsts),
            kv_len=slot + 1,
            padded=any(firsts),
        )
    return logits[:, -1]


def test_the_flat_step_gives_the_modules_logits_bit_for_bit(
    default_auto: Generator, flat_steps: Steps
) -> None:
    engine = default_auto.engine
    ids = paper_tokens(default_auto, 300)
    for reserved in (len(ids) + 8, 1200):  # the second grows the cache: the step follows it
        engine.reserve(1, reserved)
        assert FlatDecodeStep.applies(default_auto.model) == engine.plan.int4
        logits = engine.prefill(torch.tensor([ids]), torch.zeros(1, dtype=torch.long))
        for slot in range(len(ids), len(ids) + 8):
            token = logits.argmax(-1)
            logits = engine.decode(token, slot)
            assert torch.equal(logits, modules_decode(default_auto, token, slot, [0]))
    assert len(flat_steps) == (16 if engine.plan.int4 else 0)


def test_rows_of_different_lengths_decode_flat_with_the_modules_logits(
    default_auto: Generator, flat_steps: Steps
) -> None:
    """Six prompts padded to the widest: each step masks every row's padding, bit for bit as the
    modules do, and the rows past the int4 kernel's 4 go through it in parts."""
    engine, ids = default_auto.engine, paper_tokens(default_auto, 120)
    pads = [0, 23, 56, 0, 89, 32]
    tokens = torch.tensor([[0] * pad + ids[: 120 - pad] for pad in pads])
    engine.reserve(len(pads), 128)
    logits = engine.prefill(tokens, torch.tensor(pads))
    for slot in range(120, 126):
        chosen = logits.argmax(-1)
        logits = engine.decode(chosen, slot)
        assert torch.equal(logits, modules_decode(default_auto, chosen, slot, pads))
    assert flat_steps == (
        [(slot, tuple(pads)) for slot in range(120, 126)] if engine.plan.int4 else []
    )


def test_the_flat_step_decodes_batches_of_a_4bit_model_only(
    default_auto: Generator, default_fp32: Generator, flat_steps: Steps
) -> None:
    assert not FlatDecodeStep.applies(default_fp32.model)
    greedy = SamplingParams(max_new_tokens=6, ignore_eos=True)
    prompts = [[1, 504, 3458, 314], [1, 504, 3458, 314, 253, 1345, 28]]
    default_fp32.generate_batch(prompts, greedy)
    assert not flat_steps
    batched = default_auto.generate_batch(prompts, greedy)  # two rows, the first padded
    alone = [default_auto.generate(prompt, greedy) for prompt in prompts]
    assert [c.token_ids for c in batched] == [c.token_ids for c in alone]
    if default_auto.engine.plan.int4:
        steps_alone = [(slot, (0,)) for slot in (*range(4, 9), *range(7, 12))]
        assert flat_steps == [(slot, (3, 0)) for slot in range(7, 12)] + steps_alone
