"""Continuous batching: one thread owns the generator and decodes all active requests together.

The rows of the KV cache share one timeline of slots: row r holds its tokens in slots
[pad_r, t) and every decode step writes slot t for all rows at once. A request that arrives
while others are decoding is prefilled into slots [t - len, t) of a free row (the timeline first
shifts right when its prompt is longer than t) and joins the next step; a row that finishes or
whose client went away is dropped and the rows below it move up. A token's position is its slot
minus its row's pad, so moving a row's slots together with its pad changes nothing it computes.
"""

import logging
import queue
import threading
from dataclasses import dataclass

import torch
from torch import Tensor

from model.engine import ALONE_FROM, CACHE_STEP
from model.flat_decode import flat_step_for
from model.generator import FinishReason, Generator, Row, seen_tokens
from model.head import set_exact_logits
from model.precision import settle_after_prefill
from model.sampling import SamplingParams, next_tokens
from model.streaming import StopMatcher, StreamDecoder

IDLE_WAIT_S = 0.1  # how often an idle scheduler looks up from its queue to check for close
COMPACT_SLOTS = 64  # unused slots before every row that make the timeline move left

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


Event = str | Finished | Exception


class Ticket:
    """One submitted request: text pieces, then a `Finished` (or an exception), in `events`."""

    def __init__(self, prompt: list[int], params: SamplingParams) -> None:
        self.prompt = prompt
        self.params = params
        self.events: queue.Queue[Event] = queue.Queue()
        self.finished: Finished | None = None  # set by the reader of the events
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop generating for this request (its client went away); its row is freed."""
        self._cancelled.set()

    def next_event(self, timeout: float) -> Event | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None


@dataclass
class SchedulerStats:
    active: int = 0  # rows being decoded now
    max_batch: int = 0  # the most rows sampled together in one step so far
    steps: int = 0
    tokens: int = 0  # generated, all requests together
    cancelled: int = 0  # requests dropped because their client went away


@dataclass
class _Active:
    ticket: Ticket
    row: Row
    pad: int  # the row's first slot
    seen: Tensor | None  # (1, vocab) tokens so far, for the repetition penalty
    rng: torch.Generator | None
    eos_ids: frozenset[int]
    steps: int = 0


class Scheduler:
    """Admits waiting requests into the running batch and decodes every active row each step.

    While the scheduler runs it owns the generator: nothing else may use it meanwhile.
    """

    def __init__(self, generator: Generator, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.generator = generator
        self.max_batch = max_batch
        self.stats = SchedulerStats()
        self._model = generator.model
        self._device = generator.engine.device
        self._waiting: queue.Queue[Ticket] = queue.Queue()
        self._rows: list[_Active] = []
        self._logits: Tensor | None = None  # (rows, vocab): each row's next-token logits
        self._slot = 0  # the next slot a decode step writes
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="batch-scheduler", daemon=True)

    @property
    def context_window(self) -> int:
        return self.generator.context_window

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()

    def submit(self, prompt: list[int], params: SamplingParams) -> Ticket:
        """Queue a request; it joins the batch at the next step with a free row."""
        if not prompt:
            raise ValueError("a prompt must have at least one token")
        if len(prompt) + params.max_new_tokens > self.context_window:
            raise ValueError(
                f"{len(prompt)} prompt tokens and {params.max_new_tokens} new ones exceed the "
                f"model's context window of {self.context_window}"
            )
        ticket = Ticket(prompt, params)
        self._waiting.put(ticket)
        return ticket

    def _loop(self) -> None:
        with torch.inference_mode():
            while not self._closing.is_set():
                try:
                    self._admit()
                    if self._rows:
                        self._step()
                except Exception as error:
                    log.exception("generation failed; the batch is abandoned")
                    self._fail(error)
        self._fail(RuntimeError("the server is shutting down"))
        while not self._waiting.empty():
            self._waiting.get_nowait().events.put(RuntimeError("the server is shutting down"))

    def _admit(self) -> None:
        tickets: list[Ticket] = []
        if not self._rows:
            try:
                tickets.append(self._waiting.get(timeout=IDLE_WAIT_S))
            except queue.Empty:
                return
        while len(self._rows) + len(tickets) < self.max_batch:
            try:
                tickets.append(self._waiting.get_nowait())
            except queue.Empty:
                break
        live = [ticket for ticket in tickets if not ticket.cancelled]
        self.stats.cancelled += len(tickets) - len(live)
        if not live:
            return
        try:
            self._prefill(live)
        except Exception as error:
            for ticket in live:
                ticket.events.put(error)
            raise

    def _prefill(self, tickets: list[Ticket]) -> None:
        """Write the new requests' prompts into free rows, ending at the current slot."""
        width = max(len(ticket.prompt) for ticket in tickets)
        first, count = len(self._rows), len(tickets)
        slot = max(self._slot, width)
        self._ensure(first + count, slot + 1)
        self._shift(slot - self._slot)
        self._slot = slot
        pads = [slot - len(ticket.prompt) for ticket in tickets]
        set_exact_logits(self._model, any(t.params.reads_all_logits for t in tickets))
        if count == 1 or width >= ALONE_FROM:  # see ALONE_FROM; one prompt needs no mask
            logits = torch.cat(
                [
                    self._model.prefill_alone(
                        torch.tensor([ticket.prompt], device=self._device), first + index, slot
                    )
                    for index, ticket in enumerate(tickets)
                ]
            )
        else:
            logits = self._prefill_padded(tickets, first, pads)
        settle_after_prefill(self._device, sum(len(ticket.prompt) for ticket in tickets))
        self._rows += [self._active(ticket, pad) for ticket, pad in zip(tickets, pads, strict=True)]
        self._logits = logits if self._logits is None else torch.cat((self._logits, logits))
        self.stats.active = len(self._rows)

    def _prefill_padded(self, tickets: list[Ticket], first: int, pads: list[int]) -> Tensor:
        """Short prompts together, padded to the widest: batched products beat masking."""
        width = max(len(ticket.prompt) for ticket in tickets)
        pad_id = self.generator.tokenizer.pad_id
        tokens = torch.tensor(
            [[pad_id] * (width - len(t.prompt)) + t.prompt for t in tickets], device=self._device
        )
        cache_pos = torch.arange(self._slot - width, self._slot, device=self._device)
        pad = torch.tensor(pads, device=self._device)
        with self._model.cache_part(slice(first, first + len(tickets))):
            logits = self._model(
                tokens, cache_pos, pad, last_only=True, kv_len=self._slot, padded=any(pads)
            )
        return logits[:, -1]

    def _active(self, ticket: Ticket, pad: int) -> _Active:
        params, tokenizer = ticket.params, self.generator.tokenizer
        vocab = self._model.config.vocab_size
        seen = seen_tokens([ticket.prompt], vocab, self._device, params)
        rng = None
        if params.seed is not None:
            rng = torch.Generator(device=self._device).manual_seed(params.seed)
        row = Row(ticket.prompt, StreamDecoder(tokenizer.decode), StopMatcher(params.stop))
        eos_ids = frozenset() if params.ignore_eos else tokenizer.eos_ids
        return _Active(ticket, row, pad, seen, rng, eos_ids)

    def _step(self) -> None:
        """Sample every row's next token, hand out the text, then decode the rows that go on."""
        abandoned = [i for i, active in enumerate(self._rows) if active.ticket.cancelled]
        if abandoned:
            self.stats.cancelled += len(abandoned)
            self._retain([i for i in range(len(self._rows)) if i not in abandoned])
            if not self._rows:
                return
        chosen = self._sample()
        for active, token in zip(self._rows, chosen, strict=True):
            self._emit(active, token)
        self.stats.steps += 1
        self.stats.tokens += len(chosen)
        self.stats.max_batch = max(self.stats.max_batch, len(chosen))
        going = [i for i, active in enumerate(self._rows) if active.row.finish is None]
        self._retain(going)
        if self._rows:
            self._decode(torch.tensor([chosen[i] for i in going], device=self._device))

    def _sample(self) -> list[int]:
        assert self._logits is not None
        best = self._logits.argmax(dim=-1).tolist()
        chosen = []
        for index, active in enumerate(self._rows):
            params = active.ticket.params
            token = best[index]
            if params.reads_all_logits:
                logits = self._logits[index : index + 1]
                token = int(next_tokens(logits, params, active.seen, active.rng).item())
            if active.seen is not None:
                active.seen[0, token] = True
            chosen.append(token)
        return chosen

    def _emit(self, active: _Active, token: int) -> None:
        row, ticket = active.row, active.ticket
        active.steps += 1
        piece = row.take(token, active.eos_ids)
        if row.finish is None and active.steps == ticket.params.max_new_tokens:
            piece += row.close()
        if piece:
            ticket.events.put(piece)
        if row.finish is not None:
            ticket.events.put(Finished(row.finish, len(row.prompt), active.steps))

    def _decode(self, tokens: Tensor) -> None:
        start = min(active.pad for active in self._rows)
        if start >= COMPACT_SLOTS or self._slot + 1 > self._model.cache_len:
            self._shift(-start)
        self._ensure(len(self._rows), self._slot + 1)
        pads = [active.pad for active in self._rows]
        exact = any(active.ticket.params.reads_all_logits for active in self._rows)
        set_exact_logits(self._model, exact)
        flat = flat_step_for(self._model)
        if flat is not None:
            self._logits = flat(tokens, self._slot, pads)
        else:
            cache_pos = torch.tensor([self._slot], device=self._device)
            pad = torch.tensor(pads, device=self._device)
            with self._model.cache_part(slice(0, len(self._rows))):
                logits = self._model(
                    tokens.view(-1, 1), cache_pos, pad, kv_len=self._slot + 1, padded=any(pads)
                )
            self._logits = logits[:, -1]
        self._slot += 1

    def _retain(self, keep: list[int]) -> None:
        """Keep only the rows at `keep`, moved up to the top of the cache in that order."""
        if len(keep) == len(self._rows):
            return
        if keep and keep != list(range(len(keep))):
            index = torch.tensor(keep, device=self._device)
            for cache in self._model.caches():
                cache.k[: len(keep), :, : self._slot] = cache.k[index, :, : self._slot]
                cache.v[: len(keep), :, : self._slot] = cache.v[index, :, : self._slot]
        self._rows = [self._rows[i] for i in keep]
        if self._logits is not None:
            self._logits = self._logits[keep] if keep else None
        if not self._rows:
            self._slot = 0
        self.stats.active = len(self._rows)

    def _shift(self, delta: int) -> None:
        """Move every active row's slots by `delta` (right when positive), pads included."""
        if not self._rows or delta == 0:
            return
        start, end, rows = min(a.pad for a in self._rows), self._slot, len(self._rows)
        for cache in self._model.caches():
            cache.k[:rows, :, start + delta : end + delta] = cache.k[:rows, :, start:end].clone()
            cache.v[:rows, :, start + delta : end + delta] = cache.v[:rows, :, start:end].clone()
        for active in self._rows:
            active.pad += delta
        self._slot += delta

    def _ensure(self, rows: int, length: int) -> None:
        """Grow the cache to hold `rows` rows of `length` slots, keeping the active rows."""
        model = self._model
        if rows <= model.cache_batch and length <= model.cache_len:
            return
        kept = [(cache.k, cache.v) for cache in self._model.caches()] if self._rows else []
        size = min(-(-length // CACHE_STEP) * CACHE_STEP, self.context_window)
        model.setup_cache(
            min(self.max_batch, max(rows, 2 * model.cache_batch)),
            max(size, model.cache_len),
            self.generator.plan.act_dtype,
        )
        if not kept:
            return
        active, end = len(self._rows), self._slot
        for cache, (k, v) in zip(self._model.caches(), kept, strict=True):
            cache.k[:active, :, :end] = k[:active, :, :end]
            cache.v[:active, :, :end] = v[:active, :, :end]

    def _fail(self, error: Exception) -> None:
        for active in self._rows:
            active.ticket.events.put(error)
        self._rows, self._logits, self._slot = [], None, 0
        self.stats.active = 0
