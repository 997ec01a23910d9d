"""`scholar serve-model`'s OpenAI-compatible API over loopback, with the real default model."""

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.cli import build_parser
from app.cli_serve import serve_command
from app.service import load_cached_generator
from model import SamplingParams
from model.bundled import bundled_generator_path
from model.server import ModelServer
from tests.conftest import CPU_PLAN

QUESTION = [{"role": "user", "content": "Name three uses of copper."}]
NAME = "smollm2"


@pytest.fixture(scope="module")
def server(default_models_dir: Path) -> Iterator[ModelServer]:
    gguf = bundled_generator_path()
    assert gguf is not None
    generator = load_cached_generator(gguf, default_models_dir, CPU_PLAN)
    with ModelServer(generator, NAME, port=0, max_batch=4) as running:
        yield running


def connect(server: ModelServer) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)


def post(server: ModelServer, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    connection = connect(server)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", path, raw, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = json.loads(response.read())
    connection.close()
    return response.status, data


def stream(server: ModelServer, path: str, body: dict[str, Any]) -> list[Any]:
    """The data of every server-sent event, `[DONE]` included."""
    connection = connect(server)
    connection.request("POST", path, json.dumps(body | {"stream": True}))
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    events = []
    for line in response:
        if line.startswith(b"data: "):
            payload = line[6:].strip()
            events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    connection.close()
    return events


def chat(max_tokens: int, **extra: Any) -> dict[str, Any]:
    return {"model": NAME, "messages": QUESTION, "temperature": 0, "max_tokens": max_tokens} | extra


def test_models_lists_the_model_with_its_context_window(server: ModelServer) -> None:
    connection = connect(server)
    connection.request("GET", "/v1/models")
    listing = json.loads(connection.getresponse().read())
    assert listing["object"] == "list"
    assert [(card["id"], card["max_model_len"]) for card in listing["data"]] == [(NAME, 8192)]


def test_streamed_chat_equals_the_whole_greedy_answer(server: ModelServer) -> None:
    generator = server.scheduler.generator
    expected = generator.generate(generator.chat_prompt(QUESTION), SamplingParams(12)).text

    status, whole = post(server, "/v1/chat/completions", chat(12))
    assert status == 200 and whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"] == {"role": "assistant", "content": expected}
    usage = whole["usage"]
    assert usage["prompt_tokens"] == len(generator.chat_prompt(QUESTION))
    assert usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    with_usage = chat(12, stream_options={"include_usage": True})
    events = stream(server, "/v1/chat/completions", with_usage)
    assert events[-1] == "[DONE]"
    chunks, usage_chunk = events[:-2], events[-2]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == usage


def test_text_completions_stream_and_answer_whole(server: ModelServer) -> None:
    body = {"prompt": "The capital of France is", "temperature": 0, "max_tokens": 6}
    status, whole = post(server, "/v1/completions", body | {"ignore_eos": True})
    assert status == 200 and whole["object"] == "text_completion"
    assert whole["choices"][0]["finish_reason"] == "length"
    assert whole["usage"]["completion_tokens"] == 6
    events = stream(server, "/v1/completions", body | {"ignore_eos": True})
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == whole["choices"][0]["text"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (chat(8, temperature=-0.5), "temperature must be at least 0"),
        (chat(8, top_p=0), "top_p must be in (0, 1]"),
        (chat(8, top_p=1.5), "top_p must be in (0, 1]"),
        (chat(0), "max_tokens must be at least 1"),
        ({"model": NAME, "max_tokens": 8}, "messages is required"),
        (b'{"messages": [{"role": "user", "content"', "not valid JSON"),
        (chat(9000), "maximum context length is 8192 tokens"),
        (
            {"messages": [{"role": "user", "content": "paper " * 9000}], "max_tokens": 8},
            "maximum context length is 8192 tokens",
        ),
    ],
)
def test_bad_requests_get_a_400_that_says_why(
    server: ModelServer, body: dict[str, Any] | bytes, message: str
) -> None:
    status, answer = post(server, "/v1/chat/completions", body)
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert message in answer["error"]["message"]


def test_requests_that_arrive_together_are_decoded_together(server: ModelServer) -> None:
    server.scheduler.stats.max_batch = 0
    prompts = ["Name three uses of copper.", "What is a volcano?", "Why is the sky blue?"]
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(prompts))

    def ask(question: str) -> None:
        barrier.wait()
        body = chat(16, messages=[{"role": "user", "content": question}], ignore_eos=True)
        results.append(post(server, "/v1/chat/completions", body)[1])

    threads = [threading.Thread(target=ask, args=(prompt,)) for prompt in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r["usage"]["completion_tokens"] for r in results] == [16, 16, 16]
    assert server.scheduler.stats.max_batch >= 2


def test_a_client_that_disconnects_frees_its_slot(server: ModelServer) -> None:
    stats = server.scheduler.stats
    cancelled, tokens = stats.cancelled, stats.tokens
    connection = connect(server)
    body = chat(4000, ignore_eos=True, stream=True)
    connection.request("POST", "/v1/chat/completions", json.dumps(body))
    response = connection.getresponse()
    while b"content" not in response.readline() or stats.tokens < tokens + 2:
        pass
    connection.close()
    deadline = time.monotonic() + 20
    while stats.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats.active == 0 and stats.cancelled == cancelled + 1
    assert stats.tokens - tokens < 1000


def test_the_command_line_offers_serve_model() -> None:
    args = build_parser().parse_args(["serve-model", "--port", "0", "--max-batch", "2"])
    assert args.handler is serve_command
    assert (args.host, args.port, args.max_batch) == ("127.0.0.1", 0, 2)
