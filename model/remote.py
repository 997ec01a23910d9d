"""A generator behind any OpenAI-compatible server: ours (`scholar serve-model`), vLLM, TGI or
llama.cpp's server.

`RemoteGenerator` offers what the rag layer uses of `Generator`: `stream`, `generate`,
`generate_batch`, `chat_prompt`, `count_tokens` and `context_window`. A chat prompt stays a list
of messages (`ChatPrompt`) and goes to /v1/chat/completions, so the server applies its own
model's template; text and token-id prompts go to /v1/completions. A `ChatPrompt`'s `len()` is
its length in tokens, as a token-id prompt's is, so the rag layer budgets both alike.

Token counts come from a local copy of the model's tokenizer when one is given. Otherwise they are
estimated at one token per three UTF-8 bytes: more tokens than LLaMA-family tokenizers make of
English (about one per four characters), so a prompt budgeted by the estimate fits the window.
"""

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from model.generator import Completion
from model.sampling import SamplingParams
from model.tokenizer import Message, Tokenizer

BYTES_PER_TOKEN = 3
MESSAGE_TOKENS = 8  # the role markers a chat template puts around each message, estimated
PROBE_TIMEOUT_S = 10.0
MAX_PARALLEL = 16  # requests of one generate_batch in flight at once


class RemoteGeneratorError(RuntimeError):
    """The server cannot be reached, or it refused or broke off a request."""


@dataclass(frozen=True)
class ChatPrompt:
    """Messages for a chat endpoint, with their length in tokens under the chat template."""

    messages: tuple[Message, ...]
    tokens: int

    def __len__(self) -> int:
        return self.tokens


RemotePrompt = ChatPrompt | str | Sequence[int]


@dataclass(frozen=True)
class RemoteOptions:
    url: str  # the server's root, with or without the trailing /v1
    model: str | None = None  # None: the first model the server lists
    tokenizer: Path | None = None  # a local folder with the model's tokenizer, for exact counts
    context_window: int = 4096  # used when the server does not report the model's window
    api_key: str | None = None
    timeout_s: float = 600.0  # longest wait for the server's next bytes


class RemoteGenerator:
    def __init__(self, options: RemoteOptions) -> None:
        self.options = options
        self.base = options.url.rstrip("/").removesuffix("/v1")
        host = urlsplit(self.base).hostname or ""
        # A proxy from the environment must not intercept a server on this machine.
        proxies: dict[str, str] | None = {} if _is_loopback(host) else None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
        card = self._model_card()
        self.model: str = str(card.get("id"))
        reported = card.get("max_model_len")
        self.context_window: int = reported if isinstance(reported, int) else options.context_window
        self.tokenizer = Tokenizer.from_folder(options.tokenizer) if options.tokenizer else None

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text) if self.tokenizer else _estimate(text)

    def chat_prompt(self, messages: Sequence[Message]) -> ChatPrompt:
        if self.tokenizer is not None and self.tokenizer.has_chat_template:
            tokens = len(self.tokenizer.encode_chat(messages))
        else:
            tokens = MESSAGE_TOKENS + sum(
                _estimate(message["content"]) + MESSAGE_TOKENS for message in messages
            )
        return ChatPrompt(tuple(messages), tokens)

    def stream(self, prompt: RemotePrompt, params: SamplingParams | None = None) -> Iterator[str]:
        """Text pieces as the server sends them."""
        path, body = self._body(prompt, params or SamplingParams(), stream=True)
        with self._post(path, body) as response:
            try:
                for event in _server_sent_events(response):
                    if "error" in event:
                        raise RemoteGeneratorError(f"the generator at {self.base} failed: {event}")
                    choices = event.get("choices") or [{}]
                    delta = choices[0].get("delta") or {}
                    piece = delta.get("content") or choices[0].get("text")
                    if piece:
                        yield piece
            except (OSError, HTTPException, ValueError) as error:
                raise RemoteGeneratorError(
                    f"the generator at {self.base} broke off the stream: {error}"
                ) from None

    def generate(self, prompt: RemotePrompt, params: SamplingParams | None = None) -> Completion:
        """The whole completion (its token ids are not sent by the server, so they are empty)."""
        path, body = self._body(prompt, params or SamplingParams(), stream=False)
        try:
            with self._post(path, body) as response:
                answer = json.loads(response.read())
            choice = answer["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (OSError, HTTPException, ValueError, KeyError, IndexError, TypeError) as error:
            raise RemoteGeneratorError(
                f"the generator at {self.base} sent no usable completion: {error!r}"
            ) from None
        usage = answer.get("usage") or {}
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        prompt_tokens = self.count_tokens(prompt) if isinstance(prompt, str) else len(prompt)
        return Completion(text or "", [], usage.get("prompt_tokens", prompt_tokens), finish)

    def generate_batch(
        self,
        prompts: Sequence[RemotePrompt],
        params: SamplingParams | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> list[Completion]:
        """Completions sent together, so that a batching server decodes them together.
        `on_step` hears of the share of `max_new_tokens` done as the requests complete."""
        if not prompts:
            raise ValueError("no prompts given")
        limit = (params or SamplingParams()).max_new_tokens
        with ThreadPoolExecutor(min(len(prompts), MAX_PARALLEL)) as pool:
            pending = [pool.submit(self.generate, prompt, params) for prompt in prompts]
            for done, _ in enumerate(as_completed(pending), start=1):
                if on_step:
                    on_step(limit * done // len(pending))
            return [future.result() for future in pending]

    def _body(
        self, prompt: RemotePrompt, params: SamplingParams, stream: bool
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": stream,
        }
        # Beyond OpenAI's parameters (vLLM, llama.cpp and ours take them): sent only when set.
        extras = {
            "top_k": params.top_k or None,
            "repetition_penalty": None
            if params.repetition_penalty == 1.0
            else params.repetition_penalty,
            "seed": params.seed,
            "stop": list(params.stop) or None,
            "ignore_eos": params.ignore_eos or None,
        }
        body |= {name: value for name, value in extras.items() if value is not None}
        if isinstance(prompt, ChatPrompt):
            return "/v1/chat/completions", body | {"messages": list(prompt.messages)}
        return "/v1/completions", body | {
            "prompt": prompt if isinstance(prompt, str) else list(prompt)
        }

    def _model_card(self) -> dict[str, Any]:
        with self._request("/v1/models", None, PROBE_TIMEOUT_S) as response:
            listing = json.loads(response.read())
        cards = [card for card in listing.get("data", []) if isinstance(card, dict)]
        wanted = self.options.model
        found = [card for card in cards if wanted is None or card.get("id") == wanted]
        if not found:
            served = ", ".join(str(card.get("id")) for card in cards) or "none"
            raise RemoteGeneratorError(
                f"the generator at {self.base} does not serve {wanted or 'any model'} "
                f"(it serves: {served})"
            )
        return found[0]

    def _post(self, path: str, body: dict[str, Any]) -> HTTPResponse:
        return self._request(path, body, self.options.timeout_s)

    def _request(self, path: str, body: dict[str, Any] | None, timeout: float) -> HTTPResponse:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers)
        try:
            return self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise RemoteGeneratorError(
                f"the generator at {self.base} refused {path} ({error.code}): "
                f"{_error_message(error)}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RemoteGeneratorError(
                f"cannot reach the generator at {self.base}: {reason}; is the server running "
                "(`scholar serve-model`), and is SCHOLAR_GENERATOR_URL right?"
            ) from None


def _server_sent_events(response: HTTPResponse) -> Iterator[dict[str, Any]]:
    """The JSON data of each event until `data: [DONE]` or the end of the stream."""
    data: list[str] = []
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line or not data:
            continue
        payload, data = "\n".join(data), []
        if payload == "[DONE]":
            return
        yield json.loads(payload)


def _error_message(error: urllib.error.HTTPError) -> str:
    raw = error.read().decode("utf-8", "replace")
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw.strip()[:500] or str(error.reason)


def _estimate(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
