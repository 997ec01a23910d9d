"""The CPU default's decode step, run over plain tensors instead of through modules.

Eager PyTorch has no graph capture on a CPU, and a decode step of the default model is about
1,500 small operations. Through the network's modules, module calls, attribute lookups and
layout views cost a fifth of a one-row step (measured in turns: 16.8 against 13.4 ms a step) and
a tenth of an eight-row one (41.4 against 38.1 ms). This step runs the same kernels in the same
order on the same tensors, so its logits are bit-identical to `Transformer.forward` (tested). It
applies where every projection is an `Int4Linear`, for the first rows of the cache.
"""

from collections.abc import Sequence
from typing import NamedTuple
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from torch import Tensor

from model.int4 import Int4Linear, int4_matmul
from model.network import Transformer


class _Layer(NamedTuple):
    attention_norm: Tensor
    wqkv: tuple[Tensor, Tensor]  # (packed, scales_zeros) for the int4 kernel
    wo: tuple[Tensor, Tensor]
    ffn_norm: Tensor
    w13: tuple[Tensor, Tensor]
    w2: tuple[Tensor, Tensor]
    keys: Tensor  # the layer's KV cache, (batch, n_kv_heads, max_len, head_dim)
    values: Tensor


class FlatDecodeStep:
    """`step(tokens, slot, firsts)`: the logits (rows, vocab) of one token per row, `tokens`
    (rows,), written at cache slot `slot` of the cache's first rows, whose tokens start at the
    slots `firsts` (the slots before them are padding)."""

    def __init__(self, model: Transformer) -> None:
        """Read the model's weights and its current cache (rebuild after `setup_cache`)."""
        self.model = model
        self.config = model.config
        self.layers = [
            _Layer(
                layer.attention_norm.weight,
                _kernel_operands(layer.attention.wqkv),
                _kernel_operands(layer.attention.wo),
                layer.ffn_norm.weight,
                _kernel_operands(layer.feed_forward.w13),
                _kernel_operands(layer.feed_forward.w2),
                layer.attention.kv_cache.k,
                layer.attention.kv_cache.v,
            )
            for layer in model.layers
        ]
        self._views: dict[int, list[tuple[Tensor, Tensor]]] = {}

    @staticmethod
    def applies(model: Transformer) -> bool:
        """Whether every projection of `model` is 4-bit."""
        projections = ("attention.wqkv", "attention.wo", "feed_forward.w13", "feed_forward.w2")
        return all(
            isinstance(layer.get_submodule(name), Int4Linear)
            for layer in model.layers
            for name in projections
        )

    def __call__(self, tokens: Tensor, slot: int, firsts: Sequence[int]) -> Tensor:
        model, config = self.model, self.config
        rows = len(firsts)
        heads, kv_heads, head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        rotated, hidden, eps = heads + kv_heads, config.intermediate_size, config.norm_eps
        norm_shape, bf16 = (config.dim,), torch.bfloat16
        cache_pos = torch.tensor([slot])
        if rows == 1:  # views, and attention from the row's first slot on, unmasked
            position = slot - firsts[0]
            cos, signed_sin = model.rope_cos[position], model.rope_signed_sin[position]
            start, mask = firsts[0], None
        else:  # attention over every slot, masked before each row's first as the modules do
            positions = torch.tensor([slot - first for first in firsts])  # (rows,)
            cos = model.rope_cos[positions].view(rows, 1, 1, head_dim)
            signed_sin = model.rope_signed_sin[positions].view(rows, 1, 1, head_dim)
            start, mask = 0, _padding_mask(firsts, slot)
        x = model.tok_embeddings.weight[tokens.view(rows)]  # (rows, dim)
        for layer, (keys, values) in zip(self.layers, self._cache_rows(rows), strict=True):
            normed = F.rms_norm(x, norm_shape, layer.attention_norm, eps).to(bf16)
            qkv = int4_matmul(normed, *layer.wqkv).float()
            qkv = qkv.view(rows, rotated + kv_heads, 1, head_dim)  # (bs, heads, seqlen, head_dim)
            qk = qkv[:, :rotated]
            qk = qk * cos + qk.roll(head_dim // 2, dims=-1) * signed_sin  # see apply_rotary
            keys.index_copy_(2, cache_pos, qk[:, heads:])
            values.index_copy_(2, cache_pos, qkv[:, rotated:])
            # One query per head: each kv head's group of query heads as its queries.
            queries = qk[:, :heads].reshape(rows, kv_heads, heads // kv_heads, head_dim)
            seen = slice(start, slot + 1)
            attended = F.scaled_dot_product_attention(
                queries, keys[:, :, seen], values[:, :, seen], attn_mask=mask
            )
            attended = attended.reshape(rows, heads * head_dim).to(bf16)
            x = x + int4_matmul(attended, *layer.wo).float()
            normed = F.rms_norm(x, norm_shape, layer.ffn_norm, eps).to(bf16)
            gate_up = int4_matmul(normed, *layer.w13).float()
            gate, up = gate_up.split(hidden, dim=-1)
            product = (F.silu(gate) * up).to(bf16)
            x = x + int4_matmul(product, *layer.w2).float()
        return model.output(model.norm(x)).float()  # (rows, vocab)

    def _cache_rows(self, rows: int) -> list[tuple[Tensor, Tensor]]:
        """Each layer's keys and values of the first `rows` rows: views, made once per count."""
        if rows not in self._views:
            self._views[rows] = [(layer.keys[:rows], layer.values[:rows]) for layer in self.layers]
        return self._views[rows]


def _padding_mask(firsts: Sequence[int], slot: int) -> Tensor | None:
    """(rows, 1, 1, slot + 1): each row sees its own slots; None when no row is padded."""
    if not any(firsts):
        return None
    keys = torch.arange(slot + 1)
    first = torch.tensor(firsts)
    return ((keys[None, :] >= first[:, None]) | (keys[None, :] == slot)).view(len(firsts), 1, 1, -1)


_built: WeakKeyDictionary[Transformer, tuple[int, FlatDecodeStep | None]] = WeakKeyDictionary()


def flat_step_for(model: Transformer) -> FlatDecodeStep | None:
    """The flat step over `model`'s current cache, or None where it does not apply. Built once
    per cache: `setup_cache` replaces the tensors that a step holds."""
    version, step = _built.get(model, (-1, None))
    if version != model.cache_version:
        step = FlatDecodeStep(model) if FlatDecodeStep.applies(model) else None
        _built[model] = (model.cache_version, step)
    return step


def _kernel_operands(linear: torch.nn.Module) -> tuple[Tensor, Tensor]:
    assert isinstance(linear, Int4Linear)
    return linear.packed, linear.scales_zeros
