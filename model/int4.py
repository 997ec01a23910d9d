"""4-bit weights for CPU decode, used only where they lose nothing.

A matrix dequantized from a 4-bit GGUF (Q4_1: per group of 32, value = scale * q + low, q in
0..15) is recovered exactly from its fp32 values: each group's minimum is `low` and its maximum is
`low + 15 * scale`. Such a matrix is kept as 4-bit groups and multiplied by PyTorch's int4 CPU
kernel, which streams a quarter of fp32's bytes per decode token; prefill-sized products
dequantize it first, to the plan's prefill dtype (`model.precision`), from the kernel's own
packing where `packing_block` reads it (else from a copy of the nibbles in our own layout, 51 MB
more for the default model). Matrices that do not round-trip stay in 16 bits.
"""

import functools
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GROUP = 32
# Recovered values must match to this fraction of a quantization step.
ROUND_TRIP_TOLERANCE = 1e-3
# torch 2.13's int4 CPU kernel takes 1.4 ms for 4 rows of the default model's matrices and
# 50 ms for 16: larger decode batches go through it 4 rows at a time.
KERNEL_ROWS = 4
# Byte b holds q[2i] in its low nibble and q[2i+1] in its high one: (b & 15, b >> 4) as floats.
_NIBBLE_PAIRS = torch.stack((torch.arange(256) & 15, torch.arange(256) >> 4), dim=-1).float()


def int4_kernel_available() -> bool:
    return hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")


def kernel_packing() -> str:
    """What the kernel's packing depends on within one torch version: the kernels torch
    dispatches to (`AVX512`, `AVX2`, ...). A matrix packed under AVX-512 and multiplied under
    AVX2 gives garbage, so packed weights are kept apart by this."""
    return torch.backends.cpu.get_cpu_capability()


def quantize_int4(weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Round-to-nearest 4-bit groups spanning each group's range: (q (N, K) int32, scale
    (N, K/32), low (N, K/32)), with value = scale * q + low."""
    rows, cols = weight.shape
    groups = weight.float().view(rows, cols // GROUP, GROUP)
    low = groups.amin(dim=-1)
    scale = (groups.amax(dim=-1) - low) / 15
    safe_scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = ((groups - low[..., None]) / safe_scale[..., None]).round_().clamp_(0, 15)
    return q.view(rows, cols).to(torch.int32), scale, low


def recover_int4(weight: Tensor) -> tuple[Tensor, Tensor, Tensor] | None:
    """`quantize_int4(weight)` if that represents `weight` exactly, else None."""
    rows, cols = weight.shape
    if cols % GROUP:
        return None
    q, scale, low = quantize_int4(weight)
    values = q.view(rows, -1, GROUP) * scale[..., None] + low[..., None]
    error = (values - weight.float().view(rows, -1, GROUP)).abs()
    safe_scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    if (error > ROUND_TRIP_TOLERANCE * safe_scale[..., None]).any():
        return None
    return q, scale, low


def pack_for_kernel(q: Tensor, scale: Tensor, low: Tensor) -> tuple[Tensor, Tensor]:
    """The int4 kernel's operands for groups (q, scale, low): (packed, scales_zeros)."""
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)
    # The kernel computes (q - 8) * scale + zero, so zero is the group's midpoint.
    zero = low + 8 * scale
    scales_zeros = torch.stack((scale, zero), dim=-1).transpose(0, 1).contiguous()
    return packed, scales_zeros.to(torch.bfloat16)  # (K/32, N, 2)


@functools.cache
def packing_block() -> int | None:
    """Rows in a block of the kernel's packing, if it is the layout that `unpack_q` reads:
    blocks of B rows stored k by k, B/2 bytes a k, whose low nibbles hold the block's first B/2
    rows and high nibbles its last B/2 (B = 64 under AVX-512 and 32 under AVX2 in torch 2.13).
    Found by packing a probe, so a packing that differs is never misread: None."""
    rows, cols = 128, 64
    probe = torch.randint(0, 16, (rows, cols), generator=torch.Generator().manual_seed(0))
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(probe.to(torch.int32), 1)
    for block in (64, 32, 16):
        if torch.equal(unpack_q(packed, block, rows, cols), probe.float()):
            return block
    return None


def unpack_q(packed: Tensor, block: int, rows: int, cols: int) -> Tensor:
    """The kernel's `packed` (rows, cols) weight as fp32 q values in row order: nibbles split
    as bytes, then one conversion (1.4 ms for the default model's 3,072 x 576 matrix, against
    2.4 ms through a table from our own layout)."""
    blocks = packed.view(rows // block, cols, block // 2).transpose(1, 2)  # (block, row, k)
    q = torch.empty(rows // block, 2, block // 2, cols, dtype=torch.uint8)
    torch.bitwise_and(blocks, 15, out=q[:, 0])  # the block's first half of rows
    torch.bitwise_right_shift(blocks, 4, out=q[:, 1])  # its second half
    return q.view(rows, cols).float()


def int4_matmul(rows: Tensor, packed: Tensor, scales_zeros: Tensor) -> Tensor:
    """rows (M, K) bf16 times the packed (N, K) weight: (M, N) bf16."""
    if len(rows) <= KERNEL_ROWS:  # a decode step: one call, no splitting
        return torch.ops.aten._weight_int4pack_mm_for_cpu(rows, packed, GROUP, scales_zeros)
    # The kernel is fast for a few rows and falls off a cliff beyond KERNEL_ROWS.
    chunks = rows.split(KERNEL_ROWS)
    return torch.cat([int4_matmul(chunk, packed, scales_zeros) for chunk in chunks])


class Int4Linear(nn.Module):
    """A bias-free linear layer over 4-bit groups: int4 kernel for decode rows, the dequantized
    weight in `prefill_dtype` for prefill."""

    def __init__(
        self,
        packed: Tensor,
        scales_zeros: Tensor,
        nibbles: Tensor | None,
        scale: Tensor,
        low: Tensor,
        decode_rows: int,
        prefill_dtype: torch.dtype,
    ) -> None:
        """A layer over buffers made by `from_groups` (here or in an earlier process: `packed`
        is in the kernel's internal format, so it must come from this torch version and
        `kernel_packing`). `nibbles`, our own layout, only where `packing_block` is None."""
        super().__init__()
        self.out_features, groups = scale.shape
        self.in_features = groups * GROUP
        self.decode_rows = decode_rows
        self.prefill_dtype = prefill_dtype
        self.register_buffer("packed", packed)
        self.register_buffer("scales_zeros", scales_zeros)  # (K/32, N, 2) bf16
        self.register_buffer("nibbles", nibbles)  # (N, K/2) or None
        self.register_buffer("scale", scale)  # (N, K/32) fp32
        self.register_buffer("low", low)

    @classmethod
    def from_groups(
        cls, q: Tensor, scale: Tensor, low: Tensor, decode_rows: int, prefill_dtype: torch.dtype
    ) -> "Int4Linear":
        """The layer for the groups `recover_int4` found."""
        packed, scales_zeros = pack_for_kernel(q, scale, low)
        nibbles = None
        if not reads_packing(len(q)):
            nibbles = (q[:, 1::2] << 4 | q[:, 0::2]).to(torch.uint8)
        return cls(
            packed, scales_zeros, nibbles, scale.float(), low.float(), decode_rows, prefill_dtype
        )

    def dequantize(self) -> Tensor:
        """The fp32 weight (N, K). From our own layout, a byte's two values come from a table
        in one pass, 3.5x faster than shifts and masks on wider integers."""
        rows, cols = self.out_features, self.in_features
        if self.nibbles is None:
            q = unpack_q(self.packed, cast(int, packing_block()), rows, cols)
        else:
            q = _NIBBLE_PAIRS.index_select(0, self.nibbles.view(-1).int())  # (N * K/2, 2)
        groups = q.view(rows, -1, GROUP)  # (N, K/32, 32)
        weight = groups.mul_(self.scale[..., None]).add_(self.low[..., None])
        return weight.view(rows, cols)

    def forward(self, x: Tensor) -> Tensor:
        rows = x.numel() // self.in_features
        if rows > self.decode_rows:
            weight = self.dequantize().to(self.prefill_dtype)
            return F.linear(x.to(self.prefill_dtype), weight).to(x.dtype)
        flat = x.reshape(rows, self.in_features).to(torch.bfloat16)
        out = int4_matmul(flat, self.packed, self.scales_zeros)
        return out.view(*x.shape[:-1], self.out_features).to(x.dtype)


def reads_packing(rows: int) -> bool:
    """Whether a matrix of `rows` rows dequantizes from the kernel's packing."""
    block = packing_block()
    return block is not None and rows % block == 0
