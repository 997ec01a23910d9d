"""The OpenAI API's shapes: request bodies checked and turned into generation requests, and
generated text turned into OpenAI's response objects and streamed chunks."""

import time
import uuid
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from model.batching import Finished
from model.generator import Generator
from model.sampling import SamplingParams

FINISH_REASONS = {"eos": "stop", "stop": "stop", "length": "length"}


class ApiError(Exception):
    """A request the API refuses, answered as OpenAI's error object."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def to_json(self) -> dict[str, object]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        error = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        return {"error": error}


@dataclass(frozen=True)
class GenerationRequest:
    chat: bool
    prompt: list[int]
    params: SamplingParams
    stream: bool
    include_usage: bool


class OpenAIApi:
    """OpenAI request bodies to generation requests, and generated text to OpenAI responses."""

    def __init__(self, generator: Generator, name: str) -> None:
        self.generator = generator
        self.name = name

    def models(self) -> dict[str, object]:
        card = {
            "id": self.name,
            "object": "model",
            "created": 0,
            "owned_by": "llama-scholar",
            "max_model_len": self.generator.context_window,  # as vLLM reports it
        }
        return {"object": "list", "data": [card]}

    def parse(self, body: object, chat: bool) -> GenerationRequest:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        model = body.get("model")
        if model is not None and model != self.name:
            message = f"the model `{model}` does not exist; this server serves `{self.name}`"
            raise ApiError(404, message, "model", "model_not_found")
        if _integer(body, "n") not in (None, 1):
            raise ApiError(400, "only n=1 is supported", "n")
        for name in ("logprobs", "echo", "tools"):
            if body.get(name):
                raise ApiError(400, f"{name} is not supported by this server", name)
        prompt = self._chat_prompt(body) if chat else self._text_prompt(body)
        return GenerationRequest(
            chat=chat,
            prompt=prompt,
            params=self._params(body, len(prompt), chat),
            stream=_flag(body, "stream"),
            include_usage=_flag(body.get("stream_options") or {}, "include_usage"),
        )

    def _chat_prompt(self, body: dict[str, Any]) -> list[int]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400, "messages is required: a non-empty list of {role, content}", "messages"
            )
        plain = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise ApiError(400, f"messages[{index}] needs a string role", "messages")
            plain.append({"role": message["role"], "content": _content(message, index)})
        try:
            return self.generator.chat_prompt(plain)
        except (ValueError, TemplateError) as error:
            raise ApiError(400, f"the messages do not fit the chat template: {error}") from None

    def _text_prompt(self, body: dict[str, Any]) -> list[int]:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
            prompt = prompt[0]
        vocab = self.generator.model.config.vocab_size
        if isinstance(prompt, str):
            ids = self.generator.tokenizer.encode(prompt)
        elif isinstance(prompt, list) and all(_is_int(t) and 0 <= t < vocab for t in prompt):
            ids = list(prompt)
        else:
            message = f"prompt is required: one string, or one list of token ids below {vocab}"
            raise ApiError(400, message, "prompt")
        if not ids:
            raise ApiError(400, "the prompt is empty", "prompt")
        return ids

    def _params(self, body: dict[str, Any], prompt_tokens: int, chat: bool) -> SamplingParams:
        name = "max_completion_tokens" if chat and "max_completion_tokens" in body else "max_tokens"
        context = self.generator.context_window
        max_tokens = _integer(body, name)
        if max_tokens is not None and max_tokens < 1:
            raise ApiError(400, f"{name} must be at least 1, got {max_tokens}", name)
        new = context - prompt_tokens if max_tokens is None else max_tokens
        if new < 1 or prompt_tokens + new > context:
            where = "messages" if chat else "prompt"
            raise ApiError(
                400,
                f"This model's maximum context length is {context} tokens. However, you "
                f"requested {prompt_tokens + new} tokens ({prompt_tokens} in the {where}, {new} "
                f"in the completion). Please reduce the length of the {where} or completion.",
                where,
                "context_length_exceeded",
            )
        temperature = _number(body, "temperature", 1.0)
        if temperature < 0:
            raise ApiError(400, f"temperature must be at least 0, got {temperature}", "temperature")
        top_p = _number(body, "top_p", 1.0)
        if not 0 < top_p <= 1:
            raise ApiError(400, f"top_p must be in (0, 1], got {top_p}", "top_p")
        top_k = _integer(body, "top_k") or 0
        if top_k < -1:
            raise ApiError(400, f"top_k must be -1 (off) or at least 0, got {top_k}", "top_k")
        penalty = _number(body, "repetition_penalty", 1.0)
        if penalty <= 0:
            raise ApiError(400, "repetition_penalty must be positive", "repetition_penalty")
        for unsupported in ("presence_penalty", "frequency_penalty"):
            if _number(body, unsupported, 0.0) != 0:
                raise ApiError(400, f"{unsupported} is not supported; use repetition_penalty")
        return SamplingParams(
            max_new_tokens=new,
            temperature=temperature,
            top_k=max(top_k, 0),
            top_p=top_p,
            repetition_penalty=penalty,
            seed=_integer(body, "seed"),
            stop=_stops(body.get("stop")),
            ignore_eos=_flag(body, "ignore_eos"),
        )


class Reply:
    """The JSON objects of one response: streamed chunks, or the whole completion."""

    def __init__(self, model: str, chat: bool) -> None:
        self.model, self.chat = model, chat
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def chunk(self, text: str | None, finish: Finished | None = None) -> dict[str, object]:
        """A streamed chunk: the role first (text None), then text pieces, then the finish."""
        if self.chat:
            delta = {"role": "assistant", "content": ""} if text is None else {"content": text}
            choice: dict[str, object] = {"index": 0, "delta": {} if finish else delta}
        else:
            choice = {"index": 0, "text": text or ""}
        choice |= {"logprobs": None, "finish_reason": _reason(finish)}
        return self._object([choice], ".chunk" if self.chat else "")

    def usage_chunk(self, finish: Finished) -> dict[str, object]:
        return self._object([], ".chunk" if self.chat else "") | {"usage": _usage(finish)}

    def whole(self, text: str, finish: Finished) -> dict[str, object]:
        if self.chat:
            choice: dict[str, object] = {"message": {"role": "assistant", "content": text}}
        else:
            choice = {"text": text}
        choice = {"index": 0, **choice, "logprobs": None, "finish_reason": _reason(finish)}
        return self._object([choice], "") | {"usage": _usage(finish)}

    def _object(self, choices: list[dict[str, object]], suffix: str) -> dict[str, object]:
        kind = ("chat.completion" if self.chat else "text_completion") + suffix
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    raise ApiError(400, f"messages[{index}].content must be a string or text parts", "messages")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not (_is_int(value) or isinstance(value, float)):
        raise ApiError(400, f"{name} must be a number, got {value!r}", name)
    return float(value)


def _integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and not _is_int(value):
        raise ApiError(400, f"{name} must be a whole number, got {value!r}", name)
    return value


def _flag(body: object, name: str) -> bool:
    value = body.get(name, False) if isinstance(body, dict) else None
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false, got {value!r}", name)
    return value


def _stops(stop: object) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, "stop must be a non-empty string or a list of them", "stop")
    return tuple(stops)


def _reason(finish: Finished | None) -> str | None:
    return None if finish is None else FINISH_REASONS[finish.reason]


def _usage(finish: Finished) -> dict[str, int]:
    total = finish.prompt_tokens + finish.completion_tokens
    return {
        "prompt_tokens": finish.prompt_tokens,
        "completion_tokens": finish.completion_tokens,
        "total_tokens": total,
    }
