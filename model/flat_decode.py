"""The CPU default's one-row decode step, run over plain tensors instead of through modules.

Eager PyTorch has no graph capture on a CPU, and a decode step of the default model is about
1,500 small operations. Through the network's modules, module calls, attribute lookups and
layout views cost a fifth of the step (measured in turns: 16.8 against 13.4 ms a step). This
step runs the same kernels in the same order on the same tensors, so its logits are bit-identical
to `Transformer.forward` (tested). It applies where every projection is an `Int4Linear` and a
single unpadded row decodes; everything else takes the modules.
"""

from typing import NamedTuple

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
    keys: Tensor  # the layer's KV cache, (1, n_kv_heads, max_len, head_dim)
    values: Tensor


class FlatDecodeStep:
    """`step(token, slot)`: the logits (1, vocab) of one token written at cache slot `slot`."""

    def __init__(self, model: Transformer) -> None:
        """Read the model's weights and its current cache (rebuild after `setup_cache`)."""
        self.model = model
        self.config = model.config
        self.cache_version = model.cache_version
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

    @staticmethod
    def applies(model: Transformer) -> bool:
        """Whether every projection of `model` is 4-bit, with a cache of one row."""
        projections = ("attention.wqkv", "attention.wo", "feed_forward.w13", "feed_forward.w2")
        return model.cache_batch == 1 and all(
            isinstance(layer.get_submodule(name), Int4Linear)
            for layer in model.layers
            for name in projections
        )

    def __call__(self, token: Tensor, slot: int) -> Tensor:
        model, config = self.model, self.config
        heads, kv_heads, head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        rotated, hidden, eps = heads + kv_heads, config.intermediate_size, config.norm_eps
        norm_shape, bf16 = (config.dim,), torch.bfloat16
        matmul = torch.ops.aten._weight_int4pack_mm_for_cpu
        cache_pos = torch.tensor([slot])
        cos, signed_sin = model.rope_cos[slot], model.rope_signed_sin[slot]  # (head_dim,)
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
            keys, values = layer.keys[:, :, : slot + 1], layer.values[:, :, : slot + 1]
            attended = F.scaled_dot_product_attention(queries, keys, values)
            attended = attended.view(1, heads * head_dim).to(bf16)
            x = x + matmul(attended, layer.wo[0], GROUP, layer.wo[1]).float()
            normed = F.rms_norm(x, norm_shape, layer.ffn_norm, eps).to(bf16)
            gate_up = matmul(normed, layer.w13[0], GROUP, layer.w13[1]).float()
            gate, up = gate_up.split(hidden, dim=-1)
            product = (F.silu(gate) * up).to(bf16)
            x = x + matmul(product, layer.w2[0], GROUP, layer.w2[1]).float()
        return model.output(model.norm(x)).float()  # (1, vocab)


def _kernel_operands(linear: torch.nn.Module) -> tuple[Tensor, Tensor]:
    assert isinstance(linear, Int4Linear)
    return linear.packed, linear.scales_zeros
