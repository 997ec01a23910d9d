"""The LLaMA network in plain PyTorch, with a preallocated KV cache (after gpt-fast's model.py).

Parameter names: `tok_embeddings`, `layers.N.attention.wqkv|wo`, `layers.N.feed_forward.w13|w2`,
`layers.N.attention_norm|ffn_norm`, `norm`, `output`. Query, key and value projections are fused
into one matrix (and gate with up) so a decode step launches fewer, larger matrix products.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import ModelConfig, rope_inv_freq


class KVCache(nn.Module):
    """Keys and values of every position so far, preallocated once and written in place."""

    def __init__(self, k: Tensor, v: Tensor) -> None:
        super().__init__()
        # k, v: (batch, n_kv_heads, max_len, head_dim)
        self.register_buffer("k", k, persistent=False)
        self.register_buffer("v", v, persistent=False)

    @classmethod
    def zeros(
        cls,
        batch: int,
        n_kv_heads: int,
        max_len: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> "KVCache":
        # Zeros, not empty: masked-out keys still enter SDPA's products, and 0 * NaN is NaN.
        shape = (batch, n_kv_heads, max_len, head_dim)
        return cls(
            torch.zeros(shape, dtype=dtype, device=device),
            torch.zeros(shape, dtype=dtype, device=device),
        )

    def part(self, rows: slice, first: int = 0) -> "KVCache":
        """Rows `rows` from slot `first` on, as a cache whose slot 0 is `first`: a view, so what
        the network writes into it lands in this cache."""
        return KVCache(self.k[rows, :, first:], self.v[rows, :, first:])

    def update(self, cache_pos: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        # cache_pos: (seqlen,)  k, v: (bs, n_kv_heads, seqlen, head_dim)
        self.k.index_copy_(2, cache_pos, k)
        self.v.index_copy_(2, cache_pos, v)
        return self.k, self.v  # (bs, n_kv_heads, max_len, head_dim)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32:  # one fused kernel
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        # Normalise in fp32 and scale in the input dtype, in transformers' order, for parity.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def apply_rotary(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """transformers' x * cos + rotate_half(x) * sin, bit for bit, in four ops instead of seven:
    rotate_half(x) = (-x2, x1) is the halves swapped with the first negated, and the negation
    lives in `signed_sin` = (-sin, sin)."""
    # x: (bs, seqlen, n_heads, head_dim)  cos, signed_sin: (bs, seqlen, 1, head_dim)
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * signed_sin


class Attention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.n_kv_heads
        self.head_dim = config.head_dim
        self.q_size = config.n_heads * config.head_dim
        self.kv_size = config.n_kv_heads * config.head_dim
        self.wqkv = nn.Linear(config.dim, self.q_size + 2 * self.kv_size, bias=False)
        self.wo = nn.Linear(self.q_size, config.dim, bias=False)
        self.kv_cache: KVCache | None = None

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        signed_sin: Tensor,
        mask: Tensor | None,
        cache_pos: Tensor,
        kv_len: int,
        last_only: bool = False,
    ) -> Tensor:
        """Attention output of every position, or of the last only (the keys and values of every
        position are still written to the cache)."""
        if self.kv_cache is None:
            raise RuntimeError("call Transformer.setup_cache before running the network")
        bsz, seqlen, _ = x.shape
        heads, kv_heads = self.n_heads, self.n_kv_heads
        qkv = self.wqkv(x).view(bsz, seqlen, heads + 2 * kv_heads, self.head_dim)
        # qkv: (bs, seqlen, n_heads + 2 * n_kv_heads, head_dim)
        # Queries and keys are rotated together: one set of rotary ops per layer, not two.
        qk = apply_rotary(qkv[:, :, : heads + kv_heads], cos, signed_sin)
        q = qk[:, :, :heads].transpose(1, 2)  # (bs, n_heads, seqlen, head_dim)
        k = qk[:, :, heads:].transpose(1, 2)  # (bs, n_kv_heads, seqlen, head_dim)
        v = qkv[:, :, heads + kv_heads :].transpose(1, 2)  # (bs, n_kv_heads, seqlen, head_dim)
        keys, values = self.kv_cache.update(cache_pos, k, v)
        keys, values = keys[:, :, :kv_len], values[:, :, :kv_len]
        # keys, values: (bs, n_kv_heads, kv_len, head_dim)
        if last_only:  # the last query sees every key written so far
            q, seqlen = q[:, :, -1:], 1
            mask = None if mask is None else mask[:, :, -1:]
        if seqlen == 1:
            # One query per head: a kv head's group of query heads becomes its queries, as in
            # transformers' pack_gqa (30% faster than SDPA's GQA path at 1,500 keys on a CPU).
            group = heads // kv_heads
            q = q.reshape(bsz, kv_heads, group, self.head_dim)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
            # out: (bs, n_kv_heads, group, head_dim), heads in the order of (bs, n_heads, 1, ...)
        else:
            causal = mask is None
            out = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=mask, is_causal=causal, enable_gqa=True
            )
            # out: (bs, n_heads, seqlen, head_dim)
            out = out.transpose(1, 2)
        out = out.reshape(bsz, seqlen, self.q_size)  # (bs, seqlen, n_heads * head_dim)
        return self.wo(out)


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(gate(x)) * up(x)), with gate and up fused into `w13`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.hidden = config.intermediate_size
        self.w13 = nn.Linear(config.dim, 2 * self.hidden, bias=False)
        self.w2 = nn.Linear(self.hidden, config.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.w13(x).split([self.hidden, self.hidden], dim=-1)
        # In place: a long prefill's two (seqlen, hidden) temporaries were 18 MB of its peak.
        return self.w2(F.silu(gate, inplace=True).mul_(up))


class TransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        signed_sin: Tensor,
        mask: Tensor | None,
        cache_pos: Tensor,
        kv_len: int,
        last_only: bool = False,
    ) -> Tensor:
        """The block's output at every position, or at the last only."""
        normed = self.attention_norm(x)
        attended = self.attention(normed, cos, signed_sin, mask, cache_pos, kv_len, last_only)
        h = (x[:, -1:] if last_only else x) + attended
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # An explicit weight skips normal_ initialisation, which on the meta device imports
        # torch._dynamo (2.5 s of a 3 s load budget).
        empty = torch.empty(config.vocab_size, config.dim)
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim, _weight=empty)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        self.act_dtype = torch.float32
        self.cache_len = 0
        self.cache_batch = 0
        self.cache_version = 0  # counts `setup_cache` calls, for views of the cache kept elsewhere

    def setup_cache(self, batch: int, max_len: int, act_dtype: torch.dtype) -> None:
        """Preallocate the KV cache and rotary tables: `batch` rows of `max_len` positions."""
        device = self.norm.weight.device
        config = self.config
        self.act_dtype = act_dtype
        self.cache_len, self.cache_batch = max_len, batch
        self.cache_version += 1
        for layer in self.layers:
            layer.attention.kv_cache = KVCache.zeros(
                batch, config.n_kv_heads, max_len, config.head_dim, act_dtype, device
            )
        freqs = torch.outer(torch.arange(max_len).float(), rope_inv_freq(config)).to(device)
        angles = torch.cat((freqs, freqs), dim=-1)  # (max_len, head_dim)
        self.register_buffer("rope_cos", angles.cos().to(act_dtype), persistent=False)
        sin = freqs.sin()
        signed_sin = torch.cat((-sin, sin), dim=-1)  # (max_len, head_dim), see apply_rotary
        self.register_buffer("rope_signed_sin", signed_sin.to(act_dtype), persistent=False)
        self.register_buffer("key_index", torch.arange(max_len, device=device), persistent=False)

    def caches(self) -> list[KVCache]:
        return [cast(KVCache, layer.attention.kv_cache) for layer in self.layers]

    @contextmanager
    def cache_part(self, rows: slice, first: int = 0) -> Iterator[None]:
        """Run the network on rows `rows` of the cache only, with slot `first` as slot 0."""
        caches = self.caches()
        for layer, cache in zip(self.layers, caches, strict=True):
            layer.attention.kv_cache = cache.part(rows, first)
        try:
            yield
        finally:
            for layer, cache in zip(self.layers, caches, strict=True):
                layer.attention.kv_cache = cache

    def prefill_alone(self, tokens: Tensor, row: int, end: int) -> Tensor:
        """The last logits (1, vocab) of one prompt, `tokens` (1, seqlen), written into row `row`
        of the cache at slots [end - seqlen, end).

        The prompt's first slot is the slot 0 of a view of the cache, so its attention is causal
        over its own keys: no padding before it to mask, and SDPA's causal kernel skips half the
        work.
        """
        seqlen = tokens.shape[1]
        cache_pos = torch.arange(seqlen, device=tokens.device)
        pad = torch.zeros(1, dtype=torch.long, device=tokens.device)
        with self.cache_part(slice(row, row + 1), first=end - seqlen):
            logits = self(tokens, cache_pos, pad, last_only=True, kv_len=seqlen, padded=False)
        return logits[:, -1]

    def forward(
        self,
        tokens: Tensor,
        cache_pos: Tensor,
        pad: Tensor,
        last_only: bool = False,
        kv_len: int | None = None,
        padded: bool = True,
    ) -> Tensor:
        """Logits for `tokens` written at cache slots `cache_pos`.

        tokens: (bs, seqlen); cache_pos: (seqlen,) slots in the cache; pad: (bs,) number of left
        padding slots in each row, whose positions the row's real tokens neither use nor see.
        kv_len: attend over only the first `kv_len` slots (eager runs); None reads the whole
        cache, masked, which keeps shapes static for CUDA graphs. padded: whether any row has
        padding; without it, a prefill from slot 0 or a one-token step needs no mask, and SDPA's
        causal kernel skips the masked half of the work.
        """
        x = self.tok_embeddings(tokens).to(self.act_dtype)  # (bs, seqlen, dim)
        positions = (cache_pos[None, :] - pad[:, None]).clamp(min=0)  # (bs, seqlen)
        cos = self.rope_cos[positions].unsqueeze(2)  # (bs, seqlen, 1, head_dim)
        signed_sin = self.rope_signed_sin[positions].unsqueeze(2)
        span = self.cache_len if kv_len is None else kv_len
        mask = None
        if kv_len is None or padded or tokens.shape[1] not in (1, kv_len):
            keys = self.key_index[:span]
            causal = keys[None, :] <= cache_pos[:, None]  # (seqlen, kv_len)
            real = keys[None, :] >= pad[:, None]  # (bs, kv_len)
            # A padding query still sees itself, so no softmax row is empty (that gives NaN).
            own = keys[None, :] == cache_pos[:, None]  # (seqlen, kv_len)
            mask = ((causal[None] & real[:, None]) | own[None]).unsqueeze(1)
            # mask: (bs, 1, seqlen, kv_len)
        *inner, final = self.layers
        for layer in inner:
            x = layer(x, cos, signed_sin, mask, cache_pos, span)
        # With `last_only`, the last layer still writes every position's keys and values, but
        # does the rest of its work (attention, projections, feed-forward) for one position.
        x = final(x, cos, signed_sin, mask, cache_pos, span, last_only)
        return self.output(self.norm(x)).float()  # (bs, seqlen or 1, vocab_size)
