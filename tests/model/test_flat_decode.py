"""The CPU default's flat decode step against the network's modules, on the real default model."""

import torch
from torch import Tensor

from model import Generator, SamplingParams
from model.flat_decode import FlatDecodeStep
from tests.model.test_default_model import paper_tokens


def modules_decode(generator: Generator, token: Tensor, slot: int) -> Tensor:
    """The logits of `token` at `slot` through `Transformer.forward`."""
    with torch.inference_mode():
        logits = generator.model(
            token.view(1, 1),
            torch.tensor([slot]),
            torch.zeros(1, dtype=torch.long),
            kv_len=slot + 1,
            padded=False,
        )
    return logits[:, -1]


def test_the_flat_step_gives_the_modules_logits_bit_for_bit(
    default_auto: Generator, flat_steps: list[tuple[int, int]]
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
            assert torch.equal(logits, modules_decode(default_auto, token, slot))
    assert len(flat_steps) == (16 if engine.plan.int4 else 0)


def test_the_flat_step_is_only_for_one_row_of_a_4bit_model(
    default_auto: Generator, default_fp32: Generator, flat_steps: list[tuple[int, int]]
) -> None:
    assert not FlatDecodeStep.applies(default_fp32.model)
    greedy = SamplingParams(max_new_tokens=6, ignore_eos=True)
    prompts = [[1, 504, 3458, 314], [1, 504, 3458, 314, 253, 1345, 28]]
    batched = default_auto.generate_batch(prompts, greedy)  # two rows, one padded: modules
    assert not flat_steps
    alone = [default_auto.generate(prompt, greedy) for prompt in prompts]
    assert len(flat_steps) == 2 * 5
    assert [c.token_ids for c in batched] == [c.token_ids for c in alone]
