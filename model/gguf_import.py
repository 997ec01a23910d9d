"""GGUF files: read the LLaMA config from metadata and dequantize tensors into Hugging Face names.

llama.cpp's converter permutes the rows of the query and key projections so that rotary pairs
sit next to each other (the original Meta layout); we undo it, because our network and
transformers rotate the two halves of each head (`rotate_half`).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize
from torch import Tensor

from model.config import ModelConfig, UnsupportedModelError

_TOP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def metadata(reader: GGUFReader) -> dict[str, Any]:
    """Scalar and string metadata (token tables, which are large arrays, are left out)."""
    values: dict[str, Any] = {}
    for name, field in reader.fields.items():
        if not field.types or field.types[0] == GGUFValueType.ARRAY:
            continue
        values[name] = field.contents()
    return values


def gguf_config(reader: GGUFReader) -> ModelConfig:
    meta = metadata(reader)
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise UnsupportedModelError(f"GGUF architecture {arch!r} is not llama")
    tensor_names = {t.name for t in reader.tensors}
    if "rope_freqs.weight" in tensor_names:
        raise UnsupportedModelError(
            "this GGUF stores Llama 3.1 rope frequencies as a table; load the Hugging Face folder"
        )
    n_heads = meta["llama.attention.head_count"]
    dim = meta["llama.embedding_length"]
    scaling_type = meta.get("llama.rope.scaling.type", "none")
    hf: dict[str, Any] = {
        "model_type": "llama",
        "vocab_size": meta.get("llama.vocab_size")
        or len(reader.fields["tokenizer.ggml.tokens"].data),
        "hidden_size": dim,
        "num_hidden_layers": meta["llama.block_count"],
        "num_attention_heads": n_heads,
        "num_key_value_heads": meta.get("llama.attention.head_count_kv", n_heads),
        "intermediate_size": meta["llama.feed_forward_length"],
        "max_position_embeddings": meta.get("llama.context_length", 4096),
        "rope_theta": meta.get("llama.rope.freq_base", 10000.0),
        "rms_norm_eps": meta.get("llama.attention.layer_norm_rms_epsilon", 1e-5),
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "head_dim": meta.get("llama.attention.key_length", dim // n_heads),
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
    }
    if scaling_type == "linear":
        hf["rope_scaling"] = {"rope_type": "linear", "factor": meta["llama.rope.scaling.factor"]}
    elif scaling_type != "none":
        raise UnsupportedModelError(f"GGUF rope scaling {scaling_type!r} is not supported")
    return ModelConfig.from_hf(hf)


def unpermute_rotary(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's `permute`: interleaved rotary pairs back to two halves per head."""
    rows = weight.shape[0]
    half = rows // n_heads // 2
    return weight.reshape(n_heads, half, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def iter_gguf_tensors(reader: GGUFReader, config: ModelConfig) -> Iterator[tuple[str, Tensor]]:
    """(Hugging Face name, fp32 tensor) for every weight, dequantized one at a time."""
    for tensor in reader.tensors:
        if tensor.name in _TOP:
            hf_name = _TOP[tensor.name]
        else:
            block, index, kind, *_ = [*tensor.name.split("."), "", ""]
            if block != "blk" or kind not in _BLOCK:
                raise UnsupportedModelError(f"unexpected GGUF tensor {tensor.name!r}")
            hf_name = f"model.layers.{index}.{_BLOCK[kind]}.weight"
        values = dequantize(tensor.data, tensor.tensor_type)
        if tensor.name.endswith("attn_q.weight"):
            values = unpermute_rotary(values, config.n_heads)
        elif tensor.name.endswith("attn_k.weight"):
            values = unpermute_rotary(values, config.n_kv_heads)
        yield hf_name, torch.from_numpy(np.array(values, dtype=np.float32, order="C"))


def read_gguf(path: Path) -> tuple[ModelConfig, GGUFReader]:
    reader = GGUFReader(str(path))
    return gguf_config(reader), reader
