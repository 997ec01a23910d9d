"""Prefill of a batch of prompts of different lengths: a padded batch against a row at a time.

Summaries prefill their windows in batches of 4, and the server prefills requests that arrive
together. A padded batch needs a mask over the padding, with which attention computes every
query against every key; a row prefilled alone is causal over its own keys. The engine prefills
a padded batch a row at a time from `ALONE_FROM` tokens on. Each width is timed three ways in
turns, in one process, on the same token ids (text of a shared paper): transformers fp32 on the
padded batch with its attention mask (the reference), ours on the padded batch (masked), and
ours a row at a time. Rows are the width, 3/4, 1/2 and 1/4 of it ("spread"), or 100%, 95%, 90%
and 85% of it ("even", as a summary's windows are).

    python bench/batch_prefill.py [--widths 256 512 1000] [--pairs 5] [--json]
"""

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.generate import default_with_reference, elapsed, long_text  # noqa: E402
from model import Generator  # noqa: E402
from model import engine as engine_module  # noqa: E402

SHAPES = {"spread": (1.0, 0.75, 0.5, 0.25), "even": (1.0, 0.95, 0.9, 0.85)}


def time_prompts(ours: Generator, hf: Any, prompts: list[list[int]], pairs: int) -> dict:
    """Median seconds of each way to prefill `prompts` together, timed in turns."""
    width, pad_id = max(len(p) for p in prompts), ours.tokenizer.pad_id
    tokens = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
    pad = torch.tensor([width - len(p) for p in prompts])
    mask = (torch.arange(width)[None, :] >= pad[:, None]).long()
    ours.engine.reserve(len(prompts), width + 1)

    @torch.inference_mode()
    def reference() -> object:
        return hf(tokens, attention_mask=mask, logits_to_keep=1).logits

    def ours_with(alone_from: int) -> Callable[[], object]:
        def run() -> object:
            engine_module.ALONE_FROM = alone_from
            return ours.engine.prefill(tokens, pad)

        return run

    runs = {"transformers": reference, "padded": ours_with(width + 1), "row": ours_with(1)}
    for run in runs.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(pairs):
        for name, run in runs.items():
            times[name].append(elapsed(run))
    return {name: statistics.median(found) for name, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 512, 1000])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ours, hf = default_with_reference()
    engine_default = engine_module.ALONE_FROM
    ids = ours.tokenizer.encode(long_text())
    results = []
    for width in args.widths:
        for shape, fractions in SHAPES.items():
            lengths = [round(width * fraction) for fraction in fractions]
            prompts = [ids[row * 97 : row * 97 + n] for row, n in enumerate(lengths)]
            medians = time_prompts(ours, hf, prompts, args.pairs)
            results.append({"width": width, "shape": shape, "lengths": lengths, **medians})
    if args.json:
        print(json.dumps(results))
        return
    print(f"4 rows, medians of {args.pairs} turns, seconds; the engine prefills a padded batch")
    print(f"a row at a time from {engine_default} tokens\n")
    print("| width | rows | transformers | ours padded | ours row at a time | row / padded |")
    print("|------:|------|-------------:|------------:|-------------------:|-------------:|")
    for row in results:
        print(
            f"| {row['width']} | {row['shape']} | {row['transformers']:.2f} | "
            f"{row['padded']:.2f} | {row['row']:.2f} | {row['row'] / row['padded']:.2f}x |"
        )


if __name__ == "__main__":
    main()
