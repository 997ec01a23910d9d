"""The CPU default's one-row decode step, run over plain tensors instead of through modules.

Eager PyTorch has no graph capture on a CPU, and a decode step of the default model is about
1,500 small operations. Through the network's modules, module calls, attribute lookups and
layout views cost a fifth of the step (measured in turns: 16.8 against 13.4 ms a step). This
step runs the same kernels in the same order on the same tensors, so its logits are bit-identical
to `Transformer.forward` (tested). It applies where every projection is an `Int4Linear` and a
single row decodes, in the first row of the cache; everything else takes the modules.
"""

from typing import NamedTuple
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from torch import Tensor

from model.int4 import GROUP, Int4Linear
from model.network import Transformer


class _Layer(NamedTuple):
    attention_norm: Tensor
    wqkv: tuple[Tensor, Tensor]  # (packed, scales_zeros) for the int4 kernel
    wo: tuple[Tensor, Tensor]
    ffn_norm: Tensor
    w13: tuple[Tensor, Tensor]
    w2: tuple[Tensor, Tensor]
    keys: Tensor  # the first row of the layer's KV cache, (1, n_kv_heads, max_len, head_dim)
    values: Tensor


class FlatDecodeStep:
    """`step(token, slot, first)`: the logits (1, vocab) of one token written at cache slot `slot`
    of the first row, whose tokens start at slot `first` (the slots before it are padding)."""

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
                layer.attention.kv_cache.k[:1],
                layer.attention.kv_cache.v[:1],
            )
            for layer in model.layers
        ]

    @staticmethod
    def applies(model: Transformer) -> bool:
        """Whether every projection of `model` is 4-bit."""
        projections = ("attention.wqkv", "attention.wo", "feed_forward.w13", "feed_forward.w2")
        return all(
            isinstance(layer.get_submodule(name), Int4Linear)
            for layer in model.layers
            for name in projections
        )

    def __call__(self, token: Tensor, slot: int, first: int = 0) -> Tensor:
        model, config = self.model, self.config
        heads, kv_heads, head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        rotated, hidden, eps = heads + kv_heads, config.intermediate_size, config.norm_eps
        norm_shape, bf16 = (config.dim,), torch.bfloat16
        matmul = torch.ops.aten._weight_int4pack_mm_for_cpu
        cache_pos = torch.tensor([slot])
        position = slot - first
        cos, signed_sin = model.rope_cos[position], model.rope_signed_sin[position]  # (head_dim,)
        x = model.tok_embeddings.weight[token.view(1)]  # (1, dim)
        for layer in self.layers:
            normed = F.rms_norm(x, norm_shape, layer.attention_norm, eps).to(bf16)
            qkv = matmul(normed, layer.wqkv[0], GROUP, layer.wqkv[1]).float()
            qkv = qkv.view(1, rotated + kv_heads, 1, head_dim)  # (bs, heads, seqlen, head_dim)
            qk = qkv[:, :rotated]
            qk = qk * cos + qk.roll(head_dim // 2, dims=-1) * signed_sin  # see apply_rotary
            layer.keys.index_copy_(2, cache_pos, qk[:, heads:])
            layer.values.index_copy_(2, cache_pos, qkv[:, rotated:])
            # One query per head: each kv head's group of query heads as its queries.
            queries = qk[:, :heads].view(1, kv_heads, heads // kv_heads, head_dim)
            keys, values = layer.keys[:, :, first : slot + 1], layer.values[:, :, first : slot + 1]
            attended = F.scaled_dot_product_attention(queries, keys, values)
            attended = attended.view(1, heads * head_dim).to(bf16)
            x = x + matmul(attended, layer.wo[0], GROUP, layer.wo[1]).float()
            normed = F.rms_norm(x, norm_shape, layer.ffn_norm, eps).to(bf16)
            gate_up = matmul(normed, layer.w13[0], GROUP, layer.w13[1]).float()
            gate, up = gate_up.split(hidden, dim=-1)
            product = (F.silu(gate) * up).to(bf16)
            x = x + matmul(product, layer.w2[0], GROUP, layer.w2[1]).float()
        return model.output(model.norm(x)).float()  # (1, vocab)


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
