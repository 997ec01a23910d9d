"""Decode steps of several rows at once: the flat step against the network's modules.

Summaries decode 4 windows together and the server decodes every active request in one step.
On the CPU default (4-bit weights), the engine runs each decode step over plain tensors
(`model/flat_decode.py`) instead of through the modules; both give the same logits, bit for bit.
For each number of rows, one step is timed three ways in turns, in one process, on the same
prompts (text of a shared paper, rows of different lengths, so padded): transformers fp32 with
its KV cache and attention mask (the reference), ours through the modules, and ours through the
flat step. Each way decodes from the same prefilled cache and writes the same slot.

    python bench/batch_decode.py [--rows 1 4 8] [--steps 40] [--json]
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.generate import default_with_reference, elapsed, long_text  # noqa: E402
from model import Generator  # noqa: E402
from model.flat_decode import FlatDecodeStep  # noqa: E402

PROMPT = 400  # tokens in the widest row; the others are 90%, 80%, ... of it


@torch.inference_mode()
def time_rows(ours: Generator, hf: Any, ids: list[int], rows: int, steps: int) -> dict:
    """Median seconds of one decode step of `rows` rows, each way, timed in turns."""
    lengths = [round(PROMPT * (1 - 0.1 * row)) for row in range(rows)]
    pads = [PROMPT - length for length in lengths]
    tokens = torch.tensor([[0] * pad + ids[: PROMPT - pad] for pad in pads])
    mask = (torch.arange(PROMPT)[None, :] >= torch.tensor(pads)[:, None]).long()
    model, engine = ours.model, ours.engine
    engine.reserve(rows, PROMPT + steps + 1)
    logits = engine.prefill(tokens, torch.tensor(pads))
    flat = FlatDecodeStep(model)
    reference = hf(tokens, attention_mask=mask, use_cache=True, logits_to_keep=1)
    cache = reference.past_key_values
    chosen = logits.argmax(-1)
    times: dict[str, list[float]] = {"transformers": [], "modules": [], "flat": []}
    for step in range(steps):
        slot = PROMPT + step
        step_mask = torch.cat((mask, torch.ones(rows, step + 1, dtype=torch.long)), dim=1)

        def with_modules(slot: int = slot) -> object:
            return model(
                chosen.view(-1, 1), torch.tensor([slot]), torch.tensor(pads), kv_len=slot + 1
            )

        def with_transformers(step_mask: torch.Tensor = step_mask) -> object:
            return hf(chosen.view(-1, 1), attention_mask=step_mask, past_key_values=cache)

        times["transformers"].append(elapsed(with_transformers))
        times["modules"].append(elapsed(with_modules))
        times["flat"].append(elapsed(lambda slot=slot: flat(chosen, slot, pads)))
    warm = steps // 5  # the first steps warm the kernels up
    return {name: statistics.median(found[warm:]) for name, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ours, hf = default_with_reference()
    if not FlatDecodeStep.applies(ours.model):
        sys.exit("the flat step needs the CPU default's 4-bit weights (torch's int4 CPU kernel)")
    ids = ours.tokenizer.encode(long_text())
    results = [{"rows": rows, **time_rows(ours, hf, ids, rows, args.steps)} for rows in args.rows]
    if args.json:
        print(json.dumps(results))
        return
    print(f"{PROMPT}-token prompts (rows of 100%, 90%, 80%, ... of it), medians of")
    print(
        f"{args.steps - args.steps // 5} steps in turns, ms a step (tokens/s, all rows together)\n"
    )
    print("| rows | transformers fp32 | ours, modules | ours, flat step | flat / modules |")
    print("|-----:|------------------:|--------------:|----------------:|---------------:|")
    for row in results:
        cells = [
            f"{row[name] * 1000:.1f} ({row['rows'] / row[name]:.0f})"
            for name in ("transformers", "modules", "flat")
        ]
        ratio = row["flat"] / row["modules"]
        print(f"| {row['rows']} | {cells[0]} | {cells[1]} | {cells[2]} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
