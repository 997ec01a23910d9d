"""How weights are stored and multiplied, per device and precision mode, and placing them.

On CPU a decode step is bound by memory bandwidth (every weight is read once per token) while a
long prefill is bound by arithmetic. CPUs without bf16 matrix instructions multiply 16-bit
matrices several times slower than fp32 ones (16-18 against 103 GFLOP/s measured on an AVX2
laptop core pair); with AMX it is the reverse (1,070 against 230 GFLOP/s on a Xeon core pair),
and AVX-512 BF16 does 2.3x fp32's rate (148 against 63 GFLOP/s on an EPYC core pair). So the CPU
default streams compact weights for decode-sized products (4-bit groups where that is exact, see
`model.int4`; bf16 otherwise), and multiplies prefill-sized products in bf16 where the CPU has
AMX or AVX-512 BF16 and in fp32 (each weight upcast as it is used) where it has neither; their
outputs are fp32 either way. Those are the CPU plans (`CPU_PLANS`): `amx`, `avx512_bf16` and
`avx2` (the last runs on any CPU); `auto` picks the first that this CPU has.
The embeddings and head stay fp32 tables, of which decode streams a 4-bit copy to find the top
logits before computing those in fp32 (`model.head`). The residual stream, norms, attention and
KV cache stay fp32, which keeps the next token the same as the fp32 model's at almost every
position. `fp32` is the exact mode; on CUDA everything runs in bf16.
"""

import ctypes
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import UnsupportedModelError
from model.head import ApproxHead
from model.int4 import Int4Linear, int4_kernel_available, recover_int4
from model.network import Transformer
from model.weights import expected_names

_MALLOC_TRIM = getattr(ctypes.CDLL(None), "malloc_trim", None) if sys.platform == "linux" else None
Precision = Literal["auto", "amx", "avx512_bf16", "avx2", "fp32", "bf16"]
# The CPU plans, as SCHOLAR_CPU_PLAN names them; `bf16` (16-bit decode, no 4-bit) is the others'.
CPU_PLANS: tuple[Precision, ...] = ("auto", "amx", "avx512_bf16", "avx2", "fp32")
PRECISIONS: tuple[Precision, ...] = (*CPU_PLANS, "bf16")
# The plans whose prefill products are bf16, and the CPU feature (as torch names it) each needs.
BF16_PREFILL_FEATURES: dict[Precision, str] = {"amx": "amx_bf16", "avx512_bf16": "avx512_bf16"}

# Products with at most this many rows count as decode-sized (batched decode included).
DECODE_ROWS = 32
# A 4-bit matrix takes up to this many rows through the int4 kernel (4 rows a call), which
# beats dequantizing every matrix for a short prefill. Measured on the default model: 40 tokens
# 143 against 393 ms, 64 tokens 165 against 350 ms, 100 tokens 284 against 255 ms.
INT4_DECODE_ROWS = 64
LINEARS = ("wqkv", "wo", "w13", "w2")


class PlanUnavailableError(ValueError):
    """A CPU plan was asked for that this CPU cannot run."""


@dataclass(frozen=True)
class Plan:
    name: str  # the precision asked for, resolved: a CPU plan, `bf16`, or `cuda`
    weight_dtype: torch.dtype
    act_dtype: torch.dtype
    cpu_mixed: bool  # compact weights for decode rows, `prefill_dtype` products for prefill
    int4: bool  # keep exactly-4-bit matrices as 4-bit groups (CPU only)
    prefill_dtype: torch.dtype = torch.float32  # of a CPU mixed plan's prefill-sized products

    @property
    def storage(self) -> str:
        """How the weights are kept, which is what a prepared file holds."""
        if self.int4:
            return "int4 groups and bf16"
        return _dtype_name(self.weight_dtype)

    @property
    def label(self) -> str:
        if not self.cpu_mixed:
            return f"{self.name}: {self.storage}"
        decode = "int4/bf16" if self.int4 else "bf16"
        return f"{self.name}: {decode} decode, {_dtype_name(self.prefill_dtype)} prefill"


def plan_for(device: torch.device, precision: Precision) -> Plan:
    """The plan of `precision` on `device`; `PlanUnavailableError` for a CPU plan whose
    instructions this CPU lacks."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return Plan("fp32", torch.float32, torch.float32, cpu_mixed=False, int4=False)
    if device.type == "cuda":
        return Plan("cuda", torch.bfloat16, torch.bfloat16, cpu_mixed=False, int4=False)
    name = this_cpus_plan() if precision in ("auto", "bf16") else precision
    feature = BF16_PREFILL_FEATURES.get(name)
    if feature is not None and not cpu_has(feature):
        raise PlanUnavailableError(
            f"the {name} CPU plan needs a CPU with {feature}, which this one lacks; "
            f"use {this_cpus_plan()} (what auto picks here), avx2 or fp32"
        )
    prefill = torch.float32 if feature is None else torch.bfloat16
    int4 = precision != "bf16" and int4_kernel_available()
    return Plan(
        "bf16" if precision == "bf16" else name,
        torch.bfloat16,
        torch.float32,
        cpu_mixed=True,
        int4=int4,
        prefill_dtype=prefill,
    )


def this_cpus_plan() -> Precision:
    """The CPU plan that `auto` picks: the first whose bf16 instructions this CPU has, else
    `avx2` (fp32 prefill products)."""
    for name, feature in BF16_PREFILL_FEATURES.items():
        if cpu_has(feature):
            return name
    return "avx2"


def cpu_has(feature: str) -> bool:
    """Whether this CPU has `feature` (a name of `torch.cpu.get_capabilities()`, all of which
    the plans name are AVX-512 extensions) and torch runs its AVX-512 kernels here. Under
    `ATEN_CPU_CAPABILITY=avx2` torch runs as on a CPU without AVX-512, and so do the plans:
    that is how the tests try a laptop's path on any machine (the Makefile's second pass)."""
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    return bool(torch.cpu.get_capabilities().get(feature, False))


class MixedLinear(nn.Module):
    """A bias-free linear layer with bf16 weights: bf16 decode rows, `prefill_dtype` prefill."""

    def __init__(self, weight: nn.Parameter, prefill_dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = weight
        self.prefill_dtype = prefill_dtype

    def forward(self, x: Tensor) -> Tensor:
        rows = x.numel() // x.shape[-1]
        if rows > DECODE_ROWS:
            weight = self.weight.to(self.prefill_dtype)
            return F.linear(x.to(self.prefill_dtype), weight).to(x.dtype)
        if rows == 1:  # matrix-vector kernels stream bf16 faster than a one-row GEMM
            return (
                torch.mv(self.weight, x.reshape(-1).to(self.weight.dtype))
                .to(x.dtype)
                .view(*x.shape[:-1], -1)
            )
        return F.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)


def place_weights(
    model: Transformer, tensors: Iterator[tuple[str, Tensor]], plan: Plan, device: torch.device
) -> None:
    """Fill `model` (built on the meta device) with `tensors` named as its parameters.

    Each tensor is converted as it arrives, so no second full copy of the weights is ever held.
    """
    missing = expected_names(model)
    tied = model.config.tie_embeddings
    for name, tensor in tensors:
        missing.discard(name)
        if name == "output.weight" and tied:
            continue
        module_path, _, _ = name.rpartition(".")
        if plan.cpu_mixed and module_path in ("output", "tok_embeddings"):
            table = nn.Parameter(tensor.float(), requires_grad=False)
            install_table(model, module_path, table, plan)
            continue
        if plan.cpu_mixed and module_path.rpartition(".")[2] in LINEARS:
            model.set_submodule(module_path, _cpu_linear(tensor, plan))
            if module_path.endswith("w2"):  # once per layer
                release_freed_memory()
            continue
        dtype = plan.act_dtype if "norm" in module_path else plan.weight_dtype
        param = nn.Parameter(tensor.to(device=device, dtype=dtype), requires_grad=False)
        model.get_submodule(module_path).register_parameter("weight", param)
    if missing:
        raise UnsupportedModelError(f"checkpoint lacks {sorted(missing)[:5]}")
    if tied and not plan.cpu_mixed:
        model.output.weight = model.tok_embeddings.weight


def install_table(
    model: Transformer,
    module_path: str,
    table: nn.Parameter,
    plan: Plan,
    head: ApproxHead | None = None,
) -> None:
    """Make the fp32 `table` the token embeddings or the head (both, when the model ties them).

    The head is `head` (prepared earlier), else a new `ApproxHead` where the plan has the int4
    kernel, else the fp32 table itself.
    """
    if module_path == "tok_embeddings":
        model.tok_embeddings.weight = table
    if module_path == "output" or model.config.tie_embeddings:
        if head is None and plan.int4 and ApproxHead.fits(table):
            head = ApproxHead.from_weight(table, decode_rows=DECODE_ROWS)
        if head is None:
            model.output.weight = table
        else:
            model.output = head


def release_freed_memory() -> None:
    """Return the heap memory that conversion temporaries freed to the OS.

    glibc keeps freed blocks under 32 MB for reuse, and the long-lived 4-bit buffers allocated
    between them pin the heap: without this, a CPU load holds about 250 MB it no longer uses.
    """
    if _MALLOC_TRIM is not None:  # glibc only
        _MALLOC_TRIM(0)


def settle_after_prefill(device: torch.device, tokens: int) -> None:
    """After a prefill of `tokens` tokens: a long CPU prefill's freed temporaries stay in the
    heap, and decoding after them ran 15% slower (measured) until they were returned to the OS."""
    if device.type == "cpu" and tokens > DECODE_ROWS:
        release_freed_memory()


def _cpu_linear(weight: Tensor, plan: Plan) -> nn.Module:
    if plan.int4 and (groups := recover_int4(weight)) is not None:
        return Int4Linear.from_groups(*groups, INT4_DECODE_ROWS, plan.prefill_dtype)
    return MixedLinear(
        nn.Parameter(weight.to(plan.weight_dtype), requires_grad=False), plan.prefill_dtype
    )


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16"}.get(dtype, str(dtype))
