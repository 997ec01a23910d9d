"""The output projection of the CPU default mode: 4-bit logits find the top, fp32 decides it.

The head is the largest matrix of a small model (49152 x 576 for SmolLM2-135M, 113 MB in fp32),
and a decode step reads all of it, yet the next token depends only on the exact values at the
top. So a decode step streams a 4-bit copy of the head (round-to-nearest groups of 32, an eighth
of fp32's bytes) through the int4 kernel for approximate logits, then recomputes in fp32 every
logit that could be the maximum: those within a margin of the approximate maximum.

The margin is `MARGIN_SIGMAS` standard deviations of each logit's approximation error, which
is computed per row from the input: a weight's rounding error is uniform within half its
group's step, so the logit's error variance is sum over groups of (mean step^2 / 12) *
|x_group|^2. On the default model, over 1,000 positions of real text, the exact maximum's
approximation lay at most 2 deviations below the approximate maximum; a margin of 6 leaves a
median of 12 logits to recompute (at most 734), against 49,152 computed.

Greedy decoding reads nothing else. Sampling and the repetition penalty read every logit, so
they set `exact`, which makes every product fp32.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.int4 import GROUP, int4_matmul, pack_for_kernel, quantize_int4

MARGIN_SIGMAS = 6.0
# The kernel's bf16 output is within 2^-9 of each logit; the margin covers four times that.
OUTPUT_ROUNDING = 2**-7


class ApproxHead(nn.Module):
    """Logits: exact in fp32 near the top (everywhere when `exact`), 4-bit elsewhere."""

    def __init__(
        self,
        weight: nn.Parameter,
        packed: Tensor,
        scales_zeros: Tensor,
        error_variance: Tensor,
        decode_rows: int,
    ) -> None:
        """`weight` is the fp32 head (the embedding table itself when the model ties them)."""
        super().__init__()
        self.weight = weight  # (vocab, dim) fp32
        self.register_buffer("packed", packed)
        self.register_buffer("scales_zeros", scales_zeros)  # (dim/32, vocab, 2) bf16
        self.register_buffer("error_variance", error_variance)  # (dim/32,) fp32
        self.decode_rows = decode_rows
        self.exact = False

    @classmethod
    def from_weight(cls, weight: nn.Parameter, decode_rows: int) -> "ApproxHead":
        q, scale, low = quantize_int4(weight)
        packed, scales_zeros = pack_for_kernel(q, scale, low)
        error_variance = scale.square().mean(dim=0) / 12
        return cls(weight, packed, scales_zeros, error_variance, decode_rows)

    @staticmethod
    def fits(weight: Tensor) -> bool:
        return weight.shape[1] % GROUP == 0

    def forward(self, x: Tensor) -> Tensor:
        dim = x.shape[-1]
        rows = x.numel() // dim
        if self.exact or rows > self.decode_rows:
            return F.linear(x, self.weight)
        flat = x.reshape(rows, dim)
        approx = int4_matmul(flat.to(torch.bfloat16), self.packed, self.scales_zeros).float()
        # approx: (rows, vocab)
        group_norms = flat.view(rows, -1, GROUP).square().sum(dim=-1)  # (rows, dim/32)
        sigma = (group_norms @ self.error_variance).sqrt()  # (rows,)
        top = approx.amax(dim=-1)  # (rows,)
        margin = MARGIN_SIGMAS * sigma + OUTPUT_ROUNDING * top.abs()
        row, col = (approx >= (top - margin)[:, None]).nonzero(as_tuple=True)  # the contenders
        approx[row, col] = (self.weight[col] * flat[row]).sum(dim=-1)
        return approx.view(*x.shape[:-1], -1)


def set_exact_logits(model: nn.Module, exact: bool) -> None:
    """Whether the model's next logits must all be exact, or only those at the top."""
    if isinstance(model.output, ApproxHead):
        model.output.exact = exact
