"""Answer latency over the shared papers with the default model on this machine's device.

Time to first token split into retrieval, prompt building and the generator's prefill, then
total time and decode tokens/s. Reference, same prompts in the same run: Hugging Face
transformers (LlamaForCausalLM from the same converted weights, fp32) `generate`. Medians.

    python bench/answer.py [PATH ...] [--json]
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformers import LlamaForCausalLM

from app.service import Scholar
from app.settings import Settings

DEFAULT_PAPERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pdfs" / "papers"
QUESTIONS = [
    "Which PDF parsers does PaperMage integrate?",
    "Which BERT model was pretrained on S2ORC?",
    "How are inline citations linked to bibliography entries in S2ORC?",
    "What are the limitations of PaperMage?",
    "How many papers does S2ORC contain?",
]
NEW_TOKENS = 64


def reference_timings(model: LlamaForCausalLM, prompt: list[int]) -> tuple[float, float]:
    """(prefill ms, decode tokens/s) of transformers `generate` on the same prompt."""
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        started = time.perf_counter()
        model.generate(ids, max_new_tokens=1, do_sample=False)
        prefill = time.perf_counter() - started
        started = time.perf_counter()
        out = model.generate(
            ids, max_new_tokens=NEW_TOKENS, do_sample=False, min_new_tokens=NEW_TOKENS
        )
        total = time.perf_counter() - started
    generated = out.shape[1] - len(prompt)
    return prefill * 1000, (generated - 1) / max(total - prefill, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_PAPERS])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ours: list[dict[str, float]] = []
    theirs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env({**os.environ, "SCHOLAR_HOME": home})
        scholar = Scholar(dataclasses.replace(settings, max_new_tokens=NEW_TOKENS))
        list(scholar.ingest(args.paths))
        scholar.ask(QUESTIONS[0]).result()  # warm-up: models loaded, caches filled
        reference = LlamaForCausalLM.from_pretrained(scholar.generator.folder, dtype=torch.float32)
        for question in QUESTIONS:
            answer = scholar.ask(question).result()
            if not answer.found:
                continue
            prompt, _ = scholar.answerer.prompt(question, answer.retrieved)
            ours.append(answer.timings.to_json() | {"prompt_tokens": len(prompt)})
            theirs.append(reference_timings(reference, prompt))
        scholar.store.dispose()

    def median(key: str) -> float:
        return statistics.median(row[key] for row in ours)

    result = {
        "answers": len(ours),
        "precision": scholar.generator.plan.label,
        "prompt_tokens": median("prompt_tokens"),
        "retrieve_ms": median("retrieve_ms"),
        "prompt_ms": median("prompt_ms"),
        "prefill_ms": median("prefill_ms"),
        "ttft_ms": median("ttft_ms"),
        "total_ms": median("total_ms"),
        "tokens_per_s": median("tokens_per_s"),
        "hf_prefill_ms": statistics.median(prefill for prefill, _ in theirs),
        "hf_tokens_per_s": statistics.median(rate for _, rate in theirs),
    }
    result["other_than_prefill_ms"] = result["ttft_ms"] - result["prefill_ms"]
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['answers']} answers over {', '.join(p.name for p in args.paths)}, medians, "
        f"{os.cpu_count()} CPUs, {NEW_TOKENS} new tokens at most, "
        f"prompt {result['prompt_tokens']:.0f} tokens\n"
    )
    print("| step                         |      ms |")
    print("|------------------------------|---------|")
    for name in ("retrieve_ms", "prompt_ms", "prefill_ms", "ttft_ms", "other_than_prefill_ms"):
        print(f"| {name:<28} | {result[name]:7.0f} |")
    print(f"| {'total_ms':<28} | {result['total_ms']:7.0f} |\n")
    print("| generator                    | prefill ms | decode tokens/s |")
    print("|------------------------------|------------|-----------------|")
    print(
        f"| {'llama-scholar':<28} | {result['prefill_ms']:10.0f} | {result['tokens_per_s']:15.1f} |"
    )
    print(
        f"| {'transformers generate (fp32)':<28} | {result['hf_prefill_ms']:10.0f} "
        f"| {result['hf_tokens_per_s']:15.1f} |"
    )
    print(
        f"\nprefill ratio (ours / transformers): "
        f"{result['prefill_ms'] / result['hf_prefill_ms']:.2f}; decode speed-up: "
        f"{result['tokens_per_s'] / result['hf_tokens_per_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
