"""Decode speed on one CUDA GPU: ours (bf16, decode step captured) against transformers, same run.

Random bf16 weights in Llama-2-7B and Llama-3-8B shapes, batch 1 and 8, a 512-token prompt and
128 new tokens. Prints tokens/s for both, the memory-bandwidth limit measured in the same run
(a large device-to-device copy; every weight is read once per decode step) and the percentage of
it reached. Needs only torch and transformers.

    python bench/gpu_decode.py [--shapes llama2-7b llama3-8b] [--batches 1 8] [--no-compile]
"""

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import ModelConfig
from model.engine import Engine
from model.network import Transformer
from model.precision import place_weights, plan_for
from model.weights import our_tensors

ROW = "| {:<9} | {:>5} | {:>10} | {:>8} | {:>6} | {:>7} | {:>6} | {:>6} | {:<5} |"
SHAPES = {
    "llama2-7b": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
        "rope_theta": 10000.0,
        "max_position_embeddings": 4096,
    },
    "llama3-8b": {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "rope_theta": 500000.0,
        "max_position_embeddings": 8192,
    },
}


def copy_bandwidth(device: torch.device, gib: int = 2) -> float:
    """Bytes per second of a large device-to-device copy (each byte read once, written once)."""
    source = torch.empty(gib << 30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    torch.cuda.synchronize()
    return 2 * source.numel() * 10 / (time.perf_counter() - started)


def timed(run: Callable[[int], None], new_tokens: int) -> float:
    """Seconds for the `new_tokens - 1` decode steps after prefill and the first token."""
    run(1)
    torch.cuda.synchronize()
    started = time.perf_counter()
    run(1)
    torch.cuda.synchronize()
    first = time.perf_counter() - started
    started = time.perf_counter()
    run(new_tokens)
    torch.cuda.synchronize()
    return time.perf_counter() - started - first


def ours_runner(engine: Engine, prompt: torch.Tensor) -> Callable[[int], None]:
    batch, width = prompt.shape
    pad = torch.zeros(batch, dtype=torch.long)

    def run(new_tokens: int) -> None:
        logits = engine.prefill(prompt, pad)
        for step in range(new_tokens - 1):
            logits = engine.decode(logits.argmax(-1), width + step)
        logits.argmax(-1)

    return run


def hf_runner(hf: LlamaForCausalLM, prompt: torch.Tensor) -> Callable[[int], None]:
    @torch.inference_mode()
    def run(new_tokens: int) -> None:
        hf.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=0,
        )

    return run


def bench_shape(name: str, args: argparse.Namespace, bandwidth: float) -> list[str]:
    device = torch.device("cuda")
    hf_config = LlamaConfig(**SHAPES[name])
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # create the weights in bf16, not fp32 then cast
    with torch.device(device):
        hf = LlamaForCausalLM(hf_config).eval()
    torch.set_default_dtype(torch.float32)
    weight_bytes = sum(p.numel() * p.element_size() for p in hf.parameters())
    limit = bandwidth / weight_bytes  # decode steps per second when bound by reading weights
    config = ModelConfig.from_hf(hf_config.to_dict())
    with torch.device("meta"):
        model = Transformer(config)
    place_weights(
        model, our_tensors(iter(hf.state_dict().items())), plan_for(device, "bf16"), device
    )
    engine = Engine(model.eval(), device, plan_for(device, "bf16"), compile=not args.no_compile)
    rows = []
    for batch in args.batches:
        prompt = torch.randint(0, hf_config.vocab_size, (batch, args.prompt), device=device)
        engine.reserve(batch, args.prompt + args.new_tokens)
        ours = ours_runner(engine, prompt)
        started = time.perf_counter()
        ours(4)  # compile and capture
        ours(4)
        warmup = time.perf_counter() - started
        ours_rate = batch * (args.new_tokens - 1) / timed(ours, args.new_tokens)
        hf_rate = batch * (args.new_tokens - 1) / timed(hf_runner(hf, prompt), args.new_tokens)
        rows.append(
            ROW.format(
                name, batch, f"{ours_rate:.1f}", f"{hf_rate:.1f}", f"{ours_rate / hf_rate:.1f}x",
                f"{batch * limit:.1f}", f"{ours_rate / (batch * limit):.0%}", f"{warmup:.0f}",
                "yes" if engine.captured else "no",
            )
        )  # fmt: skip
        print(rows[-1], flush=True)
    del hf, model, engine
    gc.collect()
    torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--no-compile", action="store_true", help="eager decode (no CUDA graph)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark needs a GPU")
    started = time.perf_counter()
    bandwidth = copy_bandwidth(torch.device("cuda"))
    print(
        f"{torch.cuda.get_device_name(0)}, copy bandwidth {bandwidth / 1e12:.2f} TB/s, "
        f"prompt {args.prompt}, {args.new_tokens} new tokens, bf16, greedy\n"
    )
    print(
        ROW.format(
            "shape",
            "batch",
            "ours tok/s",
            "HF tok/s",
            "ratio",
            "limit",
            "of lim",
            "warm s",
            "graph",
        )
    )
    print(ROW.format(*["-" * width for width in (9, 5, 10, 8, 6, 7, 6, 6, 5)]))
    for name in args.shapes:
        bench_shape(name, args, bandwidth)
    total = time.perf_counter() - started
    print(f"\nlimit: copy bandwidth / weight bytes x batch (weight-bound); total {total:.0f} s")
    print("graph: whether our decode step ran captured (no: compiling failed, see the warning)")


if __name__ == "__main__":
    main()
