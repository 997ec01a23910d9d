"""The output projection (and its tied embedding table) for the CPU default mode.

The head is the largest matrix of a small model (49152 x 576 for SmolLM2-135M), and the next
token depends on its exact top values: bf16 logits are spaced 0.125 apart near 20, enough to
flip the top token at one position in thirty. So the fp32 weight is split into two bf16 halves
(hi + lo, 16 significant bits together). A decode step streams only `hi` for approximate logits,
then recomputes the contenders for the top from hi + lo, which puts the exact values where the
choice is made at half the bytes of fp32.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Logits this close to the approximate maximum are recomputed exactly: bf16 rounding moves a
# logit near 20 by at most 0.0625, and 16-bit weights and inputs by a few hundredths more.
MARGIN = 1.0


class SplitWeight(nn.Module):
    def __init__(self, hi: Tensor, lo: Tensor) -> None:
        super().__init__()
        self.register_buffer("hi", hi)
        self.register_buffer("lo", lo)

    @classmethod
    def from_weight(cls, weight: Tensor) -> "SplitWeight":
        """Takes ownership of `weight`, which it overwrites while splitting if it is fp32."""
        # A bf16 weight must be copied: `to` would return it, and subtracting would zero `hi`.
        weight = weight.float()
        hi = weight.to(torch.bfloat16)
        return cls(hi, weight.sub_(hi).to(torch.bfloat16))  # in place: no fp32 copy

    def rows(self, index: Tensor) -> Tensor:
        return self.hi[index].float() + self.lo[index].float()

    def full(self) -> Tensor:
        return self.hi.float() + self.lo.float()


class SplitEmbedding(nn.Module):
    """Token embeddings read from a split weight (shared with the head when tied)."""

    def __init__(self, weight: SplitWeight) -> None:
        super().__init__()
        self.split = weight

    def forward(self, tokens: Tensor) -> Tensor:
        return self.split.rows(tokens)


class SplitHead(nn.Module):
    """Logits: exact within `MARGIN` of the top (where the choice is made), bf16 elsewhere."""

    def __init__(self, weight: SplitWeight, decode_rows: int) -> None:
        super().__init__()
        self.split = weight
        self.decode_rows = decode_rows

    def forward(self, x: Tensor) -> Tensor:
        dim = x.shape[-1]
        rows = x.numel() // dim
        if rows > self.decode_rows:
            return F.linear(x, self.split.full())
        flat = x.reshape(rows, dim)
        hi = self.split.hi
        if rows == 1:  # matrix-vector kernels stream bf16 faster than a one-row GEMM
            approx = torch.mv(hi, flat[0].to(hi.dtype)).float()[None]
        else:
            approx = F.linear(flat.to(hi.dtype), hi).float()
        # approx: (rows, vocab), within about 0.1 of the exact logits
        threshold = approx.amax(dim=-1, keepdim=True) - MARGIN
        row, col = (approx >= threshold).nonzero(as_tuple=True)  # the contenders, usually few
        approx[row, col] = (self.split.rows(col) * flat[row]).sum(dim=-1)
        return approx.view(*x.shape[:-1], -1)
