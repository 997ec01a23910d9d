"""Prefill dequantizes 4-bit matrices from the int4 kernel's own packing, under any kernels."""

import pytest
import torch

from model.int4 import GROUP, Int4Linear, int4_kernel_available, packing_block
from tests.model.conftest import OTHER_KERNELS, run_with_kernels

pytestmark = pytest.mark.skipif(not int4_kernel_available(), reason="no int4 CPU kernel")


def dequantized_both_ways(rows: int) -> tuple[bool, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For random 4-bit groups of `rows` x 128: whether the layer kept no nibbles of its own,
    its dequantized weight, the same from our own nibbles, and the exact weight."""
    generator = torch.Generator().manual_seed(rows)
    q = torch.randint(0, 16, (rows, 128), generator=generator, dtype=torch.int32)
    scale = torch.rand(rows, 128 // GROUP, generator=generator) / 8
    low = -torch.rand(rows, 128 // GROUP, generator=generator)
    layer = Int4Linear.from_groups(q, scale, low, 32, torch.float32)
    nibbles = (q[:, 1::2] << 4 | q[:, 0::2]).to(torch.uint8)
    own = Int4Linear(layer.packed, layer.scales_zeros, nibbles, scale, low, 32, torch.float32)
    exact = (q.view(rows, -1, GROUP) * scale[..., None] + low[..., None]).view(rows, 128)
    return layer.nibbles is None, layer.dequantize(), own.dequantize(), exact


def test_the_kernels_packing_is_read_and_dequantizes_exactly() -> None:
    block = packing_block()
    assert block is not None  # torch 2.13 on x86: 64 rows under AVX-512, 32 under AVX2
    for rows in (2 * block, block + 16):  # whole blocks; a part block keeps its own nibbles
        reads_packing, from_packing, from_own, exact = dequantized_both_ways(rows)
        assert reads_packing == (rows % block == 0)
        assert torch.equal(from_packing, from_own)
        assert torch.equal(from_packing, exact)


def test_the_packing_of_other_kernels_is_read_too() -> None:
    """AVX2 packs in blocks of 32 rows, AVX-512 of 64: each process reads its own. (Without
    vector kernels the packing is another, which prefill does not read: it keeps its nibbles.)"""
    script = (
        "import torch\n"
        "from model.int4 import packing_block\n"
        "from tests.model.test_int4 import dequantized_both_ways\n"
        "block = packing_block()\n"
        "reads, packed, own, exact = dequantized_both_ways(2 * (block or 64))\n"
        "print(block, reads, torch.equal(packed, exact), torch.equal(own, exact))\n"
    )
    block, reads, packed_exact, own_exact = run_with_kernels(OTHER_KERNELS, script).split()
    assert block != str(packing_block())  # another layout indeed
    assert reads == str(block != "None")
    assert (packed_exact, own_exact) == ("True", "True")
