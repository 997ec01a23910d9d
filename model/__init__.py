"""The LLaMA generator: network, KV cache, weight loading, tokenizer and sampling.

Knows nothing of documents; `rag/` imports it to generate. Entry point: `load_generator`.
"""

from model.config import ModelConfig, UnsupportedModelError
from model.generator import Completion, Generator, GeneratorOptions, load_generator
from model.sampling import SamplingParams

__all__ = [
    "Completion",
    "Generator",
    "GeneratorOptions",
    "ModelConfig",
    "SamplingParams",
    "UnsupportedModelError",
    "load_generator",
]
