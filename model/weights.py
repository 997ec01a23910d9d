"""Hugging Face LLaMA folders: read their safetensors (single or sharded), write them.

Tensors are read one at a time, so loading never holds a second full copy of the weights.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from model.config import ModelConfig, UnsupportedModelError
from model.network import Transformer

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

_DTYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F64": torch.float64,
    "U8": torch.uint8,
}
_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)\.weight")
_PLAIN = {
    "self_attn.o_proj": "attention.wo",
    "mlp.down_proj": "feed_forward.w2",
    "input_layernorm": "attention_norm",
    "post_attention_layernorm": "ffn_norm",
}
_QKV = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")
_GATE_UP = ("mlp.gate_proj", "mlp.up_proj")
# Projections that our network keeps fused: part -> (fused name, parts in concatenation order).
_FUSED = {part: ("attention.wqkv", _QKV) for part in _QKV} | {
    part: ("feed_forward.w13", _GATE_UP) for part in _GATE_UP
}
_TOP = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
}


def read_hf_config(folder: Path) -> ModelConfig:
    config = json.loads((folder / "config.json").read_text())
    generation = folder / "generation_config.json"
    if generation.exists():
        eos = json.loads(generation.read_text()).get("eos_token_id")
        if eos is not None:
            config["eos_token_id"] = eos
    return ModelConfig.from_hf(config)


def safetensors_files(folder: Path) -> list[Path]:
    index = folder / INDEX_FILE
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / shard for shard in shards]
    if (folder / SINGLE_FILE).exists():
        return [folder / SINGLE_FILE]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no *.safetensors weights")
    return files


def iter_hf_tensors(folder: Path) -> Iterator[tuple[str, Tensor]]:
    for path in safetensors_files(folder):
        yield from read_safetensors(path)


def read_safetensors(path: Path) -> Iterator[tuple[str, Tensor]]:
    """Each tensor of a safetensors file, read into its own memory.

    Plain reads rather than a memory map: pages of a mapped file stay resident (and count in
    the process's RSS) for as long as any tensor still points into the mapping.
    """
    with path.open("rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))
        header.pop("__metadata__", None)
        start = 8 + header_size
        for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            begin, end = entry["data_offsets"]
            buffer = torch.empty(end - begin, dtype=torch.uint8)
            f.seek(start + begin)
            if f.readinto(memoryview(buffer.numpy())) != end - begin:
                raise ValueError(f"{path} is truncated at tensor {name!r}")
            yield name, buffer.view(_DTYPES[entry["dtype"]]).view(entry["shape"])


def our_tensors(tensors: Iterator[tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
    """Hugging Face-named tensors renamed (and fused) into our network's parameter names."""
    pending: dict[str, dict[str, Tensor]] = {}
    for hf_name, tensor in tensors:
        if hf_name in _TOP:
            yield _TOP[hf_name], tensor
            continue
        match = _LAYER.fullmatch(hf_name)
        if match is None or (match.group(2) not in _PLAIN and match.group(2) not in _FUSED):
            if "rotary_emb" in hf_name:
                continue
            raise UnsupportedModelError(f"unexpected tensor {hf_name!r} in a LLaMA checkpoint")
        layer, part = match.groups()
        if part in _PLAIN:
            yield f"layers.{layer}.{_PLAIN[part]}.weight", tensor
            continue
        fused, parts = _FUSED[part]
        name = f"layers.{layer}.{fused}.weight"
        group = pending.setdefault(name, {})
        group[part] = tensor
        if len(group) == len(parts):
            yield name, torch.cat([group[p] for p in parts])
            del pending[name]
    if pending:
        raise UnsupportedModelError(f"checkpoint lacks parts of {sorted(pending)[:3]}")


def expected_names(model: Transformer) -> set[str]:
    names = set(model.state_dict())
    if model.config.tie_embeddings:
        names.discard("output.weight")
    return names


def save_hf_folder(folder: Path, config: ModelConfig, tensors: dict[str, Tensor]) -> None:
    """Write `config.json` and one `model.safetensors` that transformers loads directly."""
    (folder / "config.json").write_text(json.dumps(config.to_hf(), indent=2))
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(folder / SINGLE_FILE), {"format": "pt"}
    )
