"""Running the network on a device: cache sizing, prefill, and the (captured) decode step."""

import logging
from collections.abc import Callable

import torch
from torch import Tensor

from model.flat_decode import flat_step_for
from model.network import Transformer
from model.precision import Plan, settle_after_prefill

# The cache grows in steps of this many positions, so most calls reuse it (and its CUDA graph).
CACHE_STEP = 256
# A padded batch whose widest prompt has at least this many tokens is prefilled a row at a time:
# each row then computes no padding and attends causally over its own keys, without a mask. The
# padded batch shares its products' calls, which wins for short prompts. `bench/batch_prefill.py`,
# 4 rows: 1,000 tokens with rows of 100/75/50/25% 0.61-0.74x the padded time, of 100-85% 0.95-1.04x;
# 512 tokens 0.80x and 1.04x; 256 tokens 1.00x and 1.42x.
ALONE_FROM = 384

log = logging.getLogger(__name__)


class Engine:
    """Prefill and decode over a KV cache that is preallocated, reused and grown on demand.

    On CUDA the decode step is compiled by torch.compile in `reduce-overhead` mode: the
    network's kernels are fused and one step is replayed as a single CUDA graph. The graph reads
    the whole preallocated cache (static shapes), masked by position. On CPU the step runs
    eagerly and attends only over the positions written so far; a 4-bit model decodes through
    `FlatDecodeStep`, the same kernels without the modules around them.
    If the compiled step fails (no compiler, an unsupported GPU, memory for the graph), decoding
    goes on eagerly with a warning: slower, not broken.
    """

    def __init__(self, model: Transformer, device: torch.device, plan: Plan, compile: bool) -> None:
        self.model = model
        self.device = device
        self.plan = plan
        self.captured = compile and device.type == "cuda"
        self._decode: Callable[[Tensor, Tensor, Tensor], Tensor] = self._decode_step
        if self.captured:
            self._decode = torch.compile(self._decode_step, mode="reduce-overhead", fullgraph=True)
        self._pad = torch.zeros(1, dtype=torch.long, device=device)
        self._padded = False
        # The decode step's cache slot, written in place: a new tensor from a Python int would
        # be a host-to-device copy that waits for the GPU's queued work every step.
        self._slot = torch.zeros(1, dtype=torch.long, device=device)

    @property
    def context_window(self) -> int:
        return self.model.config.max_position_embeddings

    def reserve(self, batch: int, length: int) -> None:
        """Make sure the cache holds `batch` rows of `length` positions."""
        if length > self.context_window:
            raise ValueError(
                f"{length} positions exceed the model's context window of {self.context_window}"
            )
        model = self.model
        if batch == model.cache_batch and length <= model.cache_len:
            return
        size = min(-(-length // CACHE_STEP) * CACHE_STEP, self.context_window)
        if batch == model.cache_batch:
            size = max(size, model.cache_len)
        model.setup_cache(batch, size, self.plan.act_dtype)

    @torch.inference_mode()
    def prefill(self, tokens: Tensor, pad: Tensor) -> Tensor:
        """Write `tokens` (bs, seqlen) from slot 0; return the last logits (bs, vocab)."""
        self._padded = bool(pad.any())
        tokens, self._pad = tokens.to(self.device), pad.to(self.device)
        seqlen = tokens.shape[1]
        if self._padded and seqlen >= ALONE_FROM:
            rows = [tokens[row : row + 1, start:] for row, start in enumerate(pad.tolist())]
            logits = torch.cat(
                [self.model.prefill_alone(prompt, row, seqlen) for row, prompt in enumerate(rows)]
            )
        else:
            cache_pos = torch.arange(seqlen, device=self.device)
            kv_len = None if self.captured else seqlen
            logits = self.model(
                tokens, cache_pos, self._pad, last_only=True, kv_len=kv_len, padded=self._padded
            )[:, -1]
        settle_after_prefill(self.device, tokens.numel())
        return logits

    @torch.inference_mode()
    def forward_all(self, tokens: Tensor, start: int) -> Tensor:
        """Logits of every position (bs, seqlen, vocab) for `tokens` written at slots `start`.."""
        tokens = tokens.to(self.device)
        cache_pos = torch.arange(start, start + tokens.shape[1], device=self.device)
        pad = torch.zeros(tokens.shape[0], dtype=torch.long, device=self.device)
        return self.model(tokens, cache_pos, pad, kv_len=start + tokens.shape[1], padded=False)

    @torch.inference_mode()
    def decode(self, tokens: Tensor, slot: int) -> Tensor:
        """Write one token per row (bs,) at cache slot `slot`; return the logits (bs, vocab)."""
        flat = flat_step_for(self.model)
        if flat is not None:
            return flat(tokens, slot, self._pad.tolist())  # a CPU tensor: no wait
        cache_pos = self._slot.fill_(slot)
        if self.captured:
            try:
                logits = self._decode(tokens.view(-1, 1), cache_pos, self._pad)
            except Exception as error:  # an error of the step itself recurs eagerly, and is raised
                self._decode_eagerly(error)
                return self.decode(tokens, slot)
            # The graph's output buffer is reused by the next replay; the caller keeps a copy.
            return logits.clone()
        logits = self.model(
            tokens.view(-1, 1), cache_pos, self._pad, kv_len=slot + 1, padded=self._padded
        )
        return logits[:, -1]

    def _decode_eagerly(self, error: Exception) -> None:
        """Give up the captured step: the cache it would have read is valid for eager steps."""
        cause: BaseException = error
        while cause.__cause__ is not None:  # torch wraps the compiler's own error
            cause = cause.__cause__
        log.warning(
            "compiling the decode step failed (%s: %s); decoding goes on without CUDA graphs, "
            "which is slower",
            type(cause).__name__,
            cause,
        )
        self.captured = False
        self._decode = self._decode_step

    def _decode_step(self, tokens: Tensor, cache_pos: Tensor, pad: Tensor) -> Tensor:
        return self.model(tokens, cache_pos, pad, last_only=True)[:, -1]
