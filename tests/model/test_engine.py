"""The CUDA decode path's compiled step, exercised on the CPU: it must trace as one graph, give
eager's tokens, and fall back to eager decoding when compiling fails."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM

from model import Generator, SamplingParams, load_generator
from tests.model.test_network import EXACT, tokens

PROMPTS = [tokens(9, 12), tokens(10, 7)]
PARAMS = SamplingParams(max_new_tokens=10, ignore_eos=True)


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Iterator[None]:
    """Compiled frames are cached per code object; each test starts and ends with none."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def capture_with(generator: Generator, backend: str | Callable[..., object]) -> None:
    """Compile the decode step as `Engine` does on CUDA, with a backend that runs on a CPU."""
    engine = generator.engine
    engine.captured = True
    engine._decode = torch.compile(engine._decode_step, backend=backend, fullgraph=True)


def test_compiled_decode_step_is_one_graph_and_matches_eager(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path
) -> None:
    """fullgraph=True raises on any graph break, so the GPU path cannot silently split."""
    generator = load_generator(tiny[0], tmp_path, EXACT)
    eager_batch = generator.generate_batch(PROMPTS, PARAMS)
    eager_single = generator.generate_batch(PROMPTS[:1], PARAMS)
    capture_with(generator, "aot_eager")
    assert generator.generate_batch(PROMPTS, PARAMS) == eager_batch
    assert generator.generate_batch(PROMPTS[:1], PARAMS) == eager_single
    assert generator.engine.captured


def test_failed_compile_decodes_eagerly_with_a_warning(
    tiny: tuple[Path, LlamaForCausalLM], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def no_compiler(graph: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> object:
        raise RuntimeError("no C compiler found")

    generator = load_generator(tiny[0], tmp_path, EXACT)
    eager = generator.generate_batch(PROMPTS, PARAMS)
    capture_with(generator, no_compiler)
    with caplog.at_level(logging.WARNING, logger="model.engine"):
        assert generator.generate_batch(PROMPTS, PARAMS) == eager
    assert not generator.engine.captured
    warnings = [record.getMessage() for record in caplog.records if record.name == "model.engine"]
    assert len(warnings) == 1
    assert "compiling the decode step failed" in warnings[0]
    assert "RuntimeError: no C compiler found" in warnings[0]
