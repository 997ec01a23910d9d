"""The generator: load a model, then generate, stream or batch completions from prompts."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from model.convert import converted_folder
from model.engine import Engine
from model.head import set_exact_logits
from model.network import Transformer
from model.precision import Plan, Precision, place_weights, plan_for, release_freed_memory
from model.prepared import place_cpu_weights
from model.sampling import SamplingParams, next_tokens
from model.streaming import StopMatcher, StreamDecoder
from model.tokenizer import Message, Tokenizer
from model.weights import iter_hf_tensors, our_tensors, read_hf_config

Prompt = str | Sequence[int]
FinishReason = Literal["eos", "stop", "length"]


@dataclass(frozen=True)
class GeneratorOptions:
    device: str = "cpu"
    precision: Precision = "auto"
    compile: bool = True  # CUDA only: capture the decode step (torch.compile reduce-overhead)


@dataclass(frozen=True)
class Completion:
    text: str
    token_ids: list[int]
    prompt_tokens: int
    finish_reason: FinishReason


@dataclass
class Row:
    """One prompt's progress through generation."""

    prompt: list[int]
    decoder: StreamDecoder
    matcher: StopMatcher
    ids: list[int] = field(default_factory=list)
    finish: FinishReason | None = None

    def take(self, token: int, eos_ids: frozenset[int]) -> str:
        """Add one generated token; return the text it makes safe to show."""
        if token in eos_ids:
            return self.close("eos")
        self.ids.append(token)
        text = self.matcher.feed(self.decoder.push(token))
        if self.matcher.stopped:
            self.finish = "stop"
        return text

    def close(self, reason: FinishReason = "length") -> str:
        """Finish the row: release held-back text (which may still complete a stop string)."""
        if self.finish is not None:
            return ""
        text = self.matcher.feed(self.decoder.flush()) + self.matcher.flush()
        self.finish = "stop" if self.matcher.stopped else reason
        return text


class Generator:
    def __init__(self, model: Transformer, tokenizer: Tokenizer, engine: Engine, folder: Path):
        self.model = model
        self.tokenizer = tokenizer
        self.engine = engine
        self.folder = folder

    @property
    def context_window(self) -> int:
        """Positions the model attends over: prompt and generated tokens together."""
        return self.engine.context_window

    @property
    def plan(self) -> Plan:
        return self.engine.plan

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def chat_prompt(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of `messages` under the model's chat template, ready for the reply."""
        return self.tokenizer.encode_chat(messages)

    def generate(self, prompt: Prompt, params: SamplingParams | None = None) -> Completion:
        return self.generate_batch([prompt], params)[0]

    def stream(self, prompt: Prompt, params: SamplingParams | None = None) -> Iterator[str]:
        """Text pieces as they are generated; their concatenation is `generate(...).text`."""
        params = params or SamplingParams()
        for (piece,) in self._run(self._rows([prompt], params), params):
            if piece:
                yield piece

    def generate_batch(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> list[Completion]:
        """Completions of prompts of any lengths, generated together in one pass. `on_step` is
        called with the number of tokens each row has had so far (of `max_new_tokens`)."""
        params = params or SamplingParams()
        rows = self._rows(prompts, params)
        texts = [[] for _ in rows]
        for step, pieces in enumerate(self._run(rows, params), start=1):
            for text, piece in zip(texts, pieces, strict=True):
                text.append(piece)
            if on_step:
                on_step(step)
        return [
            Completion("".join(text), row.ids, len(row.prompt), row.finish or "length")
            for text, row in zip(texts, rows, strict=True)
        ]

    def _rows(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[Row]:
        if not prompts:
            raise ValueError("no prompts given")
        rows = []
        for prompt in prompts:
            ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
            if not ids:
                raise ValueError("a prompt must have at least one token")
            rows.append(Row(ids, StreamDecoder(self.tokenizer.decode), StopMatcher(params.stop)))
        return rows

    def _run(self, rows: list[Row], params: SamplingParams) -> Iterator[list[str]]:
        """Generate for all rows together; yield each step's new text per row."""
        prompts = [row.prompt for row in rows]
        width = max(len(p) for p in prompts)
        self.engine.reserve(len(prompts), width + params.max_new_tokens)
        pad_id = self.tokenizer.pad_id
        tokens = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])
        pad = torch.tensor([width - len(p) for p in prompts])
        device = self.engine.device
        seen = seen_tokens(prompts, self.model.config.vocab_size, device, params)
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=device).manual_seed(params.seed)
        eos_ids = frozenset() if params.ignore_eos else self.tokenizer.eos_ids
        set_exact_logits(self.model, params.reads_all_logits)
        logits = self.engine.prefill(tokens, pad)
        for step in range(params.max_new_tokens):
            chosen = next_tokens(logits, params, seen, generator)
            if seen is not None:
                seen.scatter_(1, chosen[:, None], True)
            if step + 1 < params.max_new_tokens:
                # Queued before reading `chosen` back, so a GPU runs ahead while Python works.
                logits = self.engine.decode(chosen, width + step)
            pieces = [
                "" if row.finish else row.take(token, eos_ids)
                for row, token in zip(rows, chosen.tolist(), strict=True)
            ]
            if all(row.finish for row in rows):
                yield pieces
                return
            if step + 1 == params.max_new_tokens:
                pieces = [piece + row.close() for piece, row in zip(pieces, rows, strict=True)]
            yield pieces


def seen_tokens(
    prompts: list[list[int]], vocab: int, device: torch.device, params: SamplingParams
) -> Tensor | None:
    """(rows, vocab) bool: the tokens each prompt holds, for the repetition penalty (None when
    it is off)."""
    if params.repetition_penalty == 1.0:
        return None
    seen = torch.zeros(len(prompts), vocab, dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        seen[row, torch.tensor(prompt, device=device)] = True
    return seen


def model_path_problem(path: Path) -> str | None:
    """What keeps `path` from being a model that `load_generator` reads, or None: a GGUF file,
    or a Hugging Face folder with its config.json."""
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        return None if (path / "config.json").is_file() else "is a folder without config.json"
    if path.suffix.lower() != ".gguf":
        return "is neither a GGUF file nor a Hugging Face model folder"
    return None


def load_generator(
    path: Path, models_dir: Path, options: GeneratorOptions | None = None
) -> Generator:
    """Load a Hugging Face LLaMA folder or a GGUF file (converted once into `models_dir`).

    A CPU load at the mixed precisions also keeps its placed weights in `models_dir` for the next
    load (`model.prepared`).
    """
    options = options or GeneratorOptions()
    if model_path_problem(path):
        error = ValueError if path.is_file() else FileNotFoundError
        raise error(f"{path} is neither a GGUF file nor a Hugging Face model folder")
    folder = converted_folder(path, models_dir) if path.is_file() else path
    config = read_hf_config(folder)
    device = torch.device(options.device)
    plan = plan_for(device, options.precision)
    with torch.device("meta"):
        model = Transformer(config)

    if plan.cpu_mixed and device.type == "cpu":
        place_cpu_weights(model, folder, models_dir, plan)
    else:
        place_weights(model, our_tensors(iter_hf_tensors(folder)), plan, device)
    model.eval()
    tokenizer = Tokenizer.from_folder(folder, config.eos_token_ids)
    # Loading the tokenizer leaves about 30 MB of freed temporaries in the heap (measured).
    release_freed_memory()
    return Generator(model, tokenizer, Engine(model, device, plan, options.compile), folder)
