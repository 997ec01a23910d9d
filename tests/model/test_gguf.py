"""GGUF import (metadata, names, dequantization, rotary row permutation); exact 4-bit weights."""

from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize, quantize
from transformers import LlamaForCausalLM

from model import GeneratorOptions, load_generator
from model.gguf_import import iter_gguf_tensors, read_gguf
from model.int4 import Int4Linear, int4_kernel_available, recover_int4
from model.precision import Precision
from model.weights import save_hf_folder
from tests.model.conftest import TinyFactory

GGUF_BLOCK = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
Q4_1 = GGMLQuantizationType.Q4_1


def llama_cpp_permute(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """The row permutation of llama.cpp's convert_hf_to_gguf.py for query and key weights."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def write_gguf(path: Path, hf: LlamaForCausalLM, quantized: set[str]) -> None:
    config = hf.config
    writer = GGUFWriter(str(path), "llama")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    for name, tensor in hf.state_dict().items():
        values = tensor.numpy()
        if name == "model.embed_tokens.weight":
            gguf_name = "token_embd.weight"
        elif name == "model.norm.weight":
            gguf_name = "output_norm.weight"
        elif name == "lm_head.weight":
            gguf_name = "output.weight"
        else:
            _, _, layer, *part, _ = name.split(".")
            kind = GGUF_BLOCK[".".join(part)]
            gguf_name = f"blk.{layer}.{kind}.weight"
            if kind == "attn_q":
                values = llama_cpp_permute(values, config.num_attention_heads)
            elif kind == "attn_k":
                values = llama_cpp_permute(values, config.num_key_value_heads)
        if gguf_name.split(".")[-2] in quantized:
            writer.add_tensor(gguf_name, quantize(values, Q4_1), raw_dtype=Q4_1)
        else:
            writer.add_tensor(gguf_name, np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_config_names_and_rotary_permutation_are_undone(
    make_tiny: TinyFactory, tmp_path: Path
) -> None:
    _, hf = make_tiny(seed=11)
    path = tmp_path / "tiny.gguf"
    write_gguf(path, hf, quantized={"ffn_up"})
    config, reader = read_gguf(path)
    assert (config.n_layers, config.n_heads, config.n_kv_heads) == (2, 4, 2)
    assert (config.dim, config.intermediate_size, config.vocab_size) == (64, 96, 272)
    assert config.eos_token_ids == (257,) and not config.tie_embeddings

    expected = hf.state_dict()
    imported = dict(iter_gguf_tensors(reader, config))
    assert set(imported) == set(expected)
    for name, tensor in imported.items():
        if "up_proj" in name:  # 4-bit: equal to the quantized values, close to the originals
            assert (tensor - expected[name]).abs().max() < 0.1
        else:
            assert torch.equal(tensor, expected[name]), name


def test_converted_gguf_runs_like_transformers(make_tiny: TinyFactory, tmp_path: Path) -> None:
    folder, hf = make_tiny(seed=12)
    path = tmp_path / "tiny.gguf"
    write_gguf(path, hf, quantized=set())
    config, reader = read_gguf(path)
    converted = tmp_path / "converted"
    converted.mkdir()
    save_hf_folder(converted, config, dict(iter_gguf_tensors(reader, config)))
    for tokenizer_file in folder.glob("tok*"):
        (converted / tokenizer_file.name).write_bytes(tokenizer_file.read_bytes())
    ours = load_generator(converted, tmp_path, GeneratorOptions(precision="fp32"))
    ids = list(range(40, 100))
    ours.engine.reserve(1, len(ids))
    with torch.inference_mode():
        expected = hf(torch.tensor([ids])).logits[0]
    assert (ours.engine.forward_all(torch.tensor([ids]), 0)[0] - expected).abs().max() < 1e-4


def q4_1_exact(weight: torch.Tensor) -> torch.Tensor:
    """`weight` after a round trip through Q4_1, as a GGUF holds it."""
    return torch.from_numpy(dequantize(quantize(weight.numpy(), Q4_1), Q4_1).copy())


def test_q4_1_weights_are_recovered_exactly_and_others_are_refused() -> None:
    weight = q4_1_exact(torch.randn(96, 64))
    groups = recover_int4(weight)
    assert groups is not None
    q, scale, low = groups
    rebuilt = (q.view(96, 2, 32) * scale[..., None] + low[..., None]).view(96, 64)
    assert (rebuilt - weight).abs().max() < 1e-5
    assert recover_int4(torch.randn(96, 64)) is None


@pytest.mark.skipif(not int4_kernel_available(), reason="this torch has no int4 CPU kernel")
@pytest.mark.parametrize(
    ("prefill_dtype", "tolerance"), [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)]
)
def test_int4_linear_decode_and_prefill(prefill_dtype: torch.dtype, tolerance: float) -> None:
    weight = q4_1_exact(torch.randn(96, 64))
    groups = recover_int4(weight)
    assert groups is not None
    layer = Int4Linear.from_groups(*groups, 32, prefill_dtype)
    assert (layer.dequantize() - weight).abs().max() < 1e-5
    decode = torch.randn(1, 3, 64)
    exact = torch.nn.functional.linear(decode, weight)
    assert (layer(decode) - exact).abs().max() < 0.05 * exact.abs().max()
    prefill = torch.randn(2, 40, 64)
    exact = torch.nn.functional.linear(prefill, weight)
    out = layer(prefill)
    assert out.dtype == torch.float32  # whatever the product's dtype
    assert (out - exact).abs().max() < tolerance * exact.abs().max()


@pytest.mark.skipif(not int4_kernel_available(), reason="this torch has no int4 CPU kernel")
@pytest.mark.parametrize("plan", ["avx2", "amx"])
def test_cpu_default_keeps_exact_4bit_matrices_in_4_bits(
    make_tiny: TinyFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Precision
) -> None:
    monkeypatch.setattr("model.precision.cpu_has", lambda feature: True)  # AMX on any CPU
    folder, hf = make_tiny(seed=13)
    with torch.no_grad():
        for layer in hf.model.layers:
            layer.mlp.gate_proj.weight.copy_(q4_1_exact(layer.mlp.gate_proj.weight))
            layer.mlp.up_proj.weight.copy_(q4_1_exact(layer.mlp.up_proj.weight))
    hf.save_pretrained(str(folder))
    fast = load_generator(folder, tmp_path, GeneratorOptions(precision=plan))
    exact = load_generator(folder, tmp_path, GeneratorOptions(precision="fp32"))
    assert all(isinstance(layer.feed_forward.w13, Int4Linear) for layer in fast.model.layers)
    assert not any(isinstance(layer.attention.wqkv, Int4Linear) for layer in fast.model.layers)
    assert fast.plan.prefill_dtype == (torch.bfloat16 if plan == "amx" else torch.float32)
    dequantized = []
    real_dequantize = Int4Linear.dequantize
    monkeypatch.setattr(
        Int4Linear, "dequantize", lambda layer: dequantized.append(layer) or real_dequantize(layer)
    )
    for length, through_kernel in ((40, True), (100, False)):  # a short prompt, a long one
        ids = list(range(10, 10 + length))
        for generator in (fast, exact):
            generator.engine.reserve(1, len(ids))
        dequantized.clear()
        prefill = fast.engine.forward_all(torch.tensor([ids]), 0)[0]
        reference = exact.engine.forward_all(torch.tensor([ids]), 0)[0]
        assert (not dequantized) == through_kernel
        # Left: the bf16 rounding of the matrices that are not 4-bit, and of the kernel's or the
        # bf16 products' outputs (fp32 products: 0.022 here; bf16 products: 0.030).
        assert (prefill - reference).abs().max() < 0.05
