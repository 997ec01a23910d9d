"""The prepared-weights cache: the CPU default's placed weights, written once and read back."""

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import model.prepared
from model import GeneratorOptions, load_generator
from model.bundled import bundled_generator_path
from model.convert import cache_folder
from model.engine import Engine
from model.int4 import Int4Linear
from model.network import Transformer
from model.precision import MixedLinear, Plan, place_weights, plan_for
from model.prepared import place_cpu_weights, prepared_path
from model.weights import iter_hf_tensors, our_tensors, read_hf_config, read_safetensors
from tests.model.conftest import OTHER_KERNELS, TinyFactory, run_with_kernels

CPU = torch.device("cpu")
AUTO = plan_for(CPU, "auto")


def meta_model(folder: Path) -> Transformer:
    with torch.device("meta"):
        return Transformer(read_hf_config(folder))


def placed(folder: Path, models_dir: Path, plan: Plan = AUTO) -> tuple[Transformer, bool]:
    """The model placed through the cache, and whether the prepared file was used."""
    model = meta_model(folder)
    return model, place_cpu_weights(model, folder, models_dir, plan)


def logits(model: Transformer, plan: Plan, ids: list[int], step: int) -> torch.Tensor:
    """Logits of `ids` fed `step` tokens at a time (4: the decode path; all: prefill)."""
    engine = Engine(model, CPU, plan, compile=False)
    engine.reserve(1, len(ids))
    return torch.cat(
        [
            engine.forward_all(torch.tensor([ids[start : start + step]]), start)[0]
            for start in range(0, len(ids), step)
        ]
    )


def assert_same_weights(a: Transformer, b: Transformer) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name, tensor in state_a.items():
        assert tensor.dtype == state_b[name].dtype, name
        assert torch.equal(tensor, state_b[name]), name


def contents(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """A safetensors file's metadata and tensors (its bytes vary: metadata order is not kept)."""
    with safe_open(str(path), "pt") as opened:
        metadata = opened.metadata()
    return metadata, dict(read_safetensors(path))


def prepared_files(models_dir: Path) -> list[str]:
    return sorted(path.name for path in (models_dir / "prepared").iterdir())


@pytest.fixture
def tiny_folder(make_tiny: TinyFactory) -> Path:
    return make_tiny(seed=21)[0]


def test_the_default_model_loads_bit_identically_from_its_prepared_file(
    default_models_dir: Path, tmp_path: Path
) -> None:
    gguf = bundled_generator_path()
    assert gguf is not None
    folder = cache_folder(gguf, default_models_dir)
    fresh = meta_model(folder)
    place_weights(fresh, our_tensors(iter_hf_tensors(folder)), AUTO, CPU)

    first, reused = placed(folder, tmp_path)
    assert not reused
    assert prepared_files(tmp_path) == [prepared_path(folder, tmp_path, AUTO).name]
    del first
    again, reused = placed(folder, tmp_path)
    assert reused
    assert_same_weights(fresh, again)
    assert isinstance(again.layers[0].feed_forward.w13, Int4Linear)
    assert again.output.weight is again.tok_embeddings.weight  # still tied
    ids = torch.randint(0, 49152, (64,), generator=torch.Generator().manual_seed(0)).tolist()
    for step in (4, len(ids)):  # the int4 kernel, then the prefill products
        assert torch.equal(logits(again, AUTO, ids, step), logits(fresh, AUTO, ids, step))


CACHED_AGAINST_FRESH = """
import sys
from pathlib import Path
import torch
from model.precision import place_weights
from model.weights import iter_hf_tensors, our_tensors
from tests.model.test_prepared import AUTO, CPU, logits, meta_model, placed

folder, models_dir = Path(sys.argv[1]), Path(sys.argv[2])
cached, reused = placed(folder, models_dir)
fresh = meta_model(folder)
place_weights(fresh, our_tensors(iter_hf_tensors(folder)), AUTO, CPU)
ids = list(range(100, 164))
print(torch.backends.cpu.get_cpu_capability(), reused)
print(torch.equal(logits(cached, AUTO, ids, 4), logits(fresh, AUTO, ids, 4)))
"""


def test_a_file_packed_for_other_kernels_is_not_read(
    default_models_dir: Path, tmp_path: Path
) -> None:
    """The int4 kernel's packing depends on the kernels torch dispatches to: read under AVX2, a
    file packed under AVX-512 gave garbage. A home folder shared by different CPUs keeps a
    file for each, and each reads its own."""
    gguf = bundled_generator_path()
    assert gguf is not None
    folder = cache_folder(gguf, default_models_dir)
    placed(folder, tmp_path)  # packed for this process's kernels
    output = run_with_kernels(OTHER_KERNELS, CACHED_AGAINST_FRESH, str(folder), str(tmp_path))
    kernels_and_reused, same_logits = output.splitlines()
    assert kernels_and_reused == f"{OTHER_KERNELS.upper()} False"  # placed, not read
    assert same_logits == "True"
    assert len(prepared_files(tmp_path)) == 2  # neither supersedes the other
    assert placed(folder, tmp_path)[1]  # this process's file is still there, and read


def test_a_user_folder_is_prepared_under_the_models_dir_only(
    tiny_folder: Path, tmp_path: Path
) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in tiny_folder.iterdir()}
    models_dir = tmp_path / "models"
    first = load_generator(tiny_folder, models_dir)
    assert {path.name: path.stat().st_mtime_ns for path in tiny_folder.iterdir()} == before
    assert prepared_files(models_dir) == [prepared_path(tiny_folder, models_dir, AUTO).name]
    again = load_generator(tiny_folder, models_dir)
    assert_same_weights(first.model, again.model)
    load_generator(tiny_folder, tmp_path / "exact", GeneratorOptions(precision="fp32"))
    assert not (tmp_path / "exact").exists()  # only the CPU mixed plans are prepared


def test_plans_that_differ_only_in_prefill_share_the_prepared_file(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("model.precision.cpu_has", lambda feature: True)  # AMX on any CPU
    for name in ("avx2", "amx"):
        plan = plan_for(CPU, name)
        model, reused = placed(tiny_folder, tmp_path, plan)
        assert reused == (name == "amx")  # the second plan reads the first one's file
        linears = [m for m in model.modules() if isinstance(m, Int4Linear | MixedLinear)]
        assert {linear.prefill_dtype for linear in linears} == {plan.prefill_dtype}
    assert len(prepared_files(tmp_path)) == 1


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def scramble(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


def misshape(path: Path) -> None:
    tensors = dict(read_safetensors(path))
    tensors["norm.weight"] = torch.ones(3)
    save_file(tensors, path)


@pytest.mark.parametrize("damage", [truncate, scramble, misshape])
def test_an_unusable_prepared_file_is_placed_again_and_rewritten(
    tiny_folder: Path, tmp_path: Path, damage: Any
) -> None:
    reference, _ = placed(tiny_folder, tmp_path)
    path = prepared_path(tiny_folder, tmp_path, AUTO)
    intact = contents(path)
    damage(path)
    again, reused = placed(tiny_folder, tmp_path)
    assert not reused
    assert_same_weights(reference, again)
    rewritten = contents(path)
    assert rewritten[0] == intact[0]  # metadata
    assert rewritten[1].keys() == intact[1].keys()
    assert all(torch.equal(rewritten[1][name], intact[1][name]) for name in intact[1])
    assert placed(tiny_folder, tmp_path)[1]


def test_a_changed_source_gets_a_new_file_that_replaces_the_old(
    make_tiny: TinyFactory, tiny_folder: Path, tmp_path: Path
) -> None:
    old = prepared_path(tiny_folder, tmp_path, AUTO)
    placed(tiny_folder, tmp_path)
    bf16 = plan_for(CPU, "bf16")
    placed(tiny_folder, tmp_path, bf16)
    # Another source whose folder has the same name keeps its file.
    namesake = tmp_path / "elsewhere" / tiny_folder.name
    shutil.copytree(make_tiny(seed=22)[0], namesake)
    placed(namesake, tmp_path)
    # A file written before sources were recorded (prepared format 1) is superseded too, and so
    # is one of an older format whose plan was recorded under another name (format 2).
    orphan = old.with_name(f"{tiny_folder.name}-0000000000000000.safetensors")
    save_file({"x": torch.zeros(1)}, orphan, {"format": "1"})
    legacy = old.with_name(f"{tiny_folder.name}-1111111111111111.safetensors")
    recorded = {"source": str(tiny_folder.resolve()), "plan": "int4/bf16 decode, fp32 prefill"}
    save_file({"x": torch.zeros(1)}, legacy, {"format": "2", **recorded})
    kept = [prepared_path(tiny_folder, tmp_path, bf16), prepared_path(namesake, tmp_path, AUTO)]

    weights = tiny_folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    new = prepared_path(tiny_folder, tmp_path, AUTO)
    assert new != old
    assert not placed(tiny_folder, tmp_path)[1]  # not the old file
    assert prepared_files(tmp_path) == sorted(path.name for path in [new, *kept])
    assert placed(tiny_folder, tmp_path)[1]


def test_an_interrupted_write_leaves_nothing_behind(
    tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = model.prepared.save_file

    def half_written(error: BaseException) -> Any:
        def save(tensors: dict[str, torch.Tensor], filename: Path, metadata: Any) -> None:
            Path(filename).write_bytes(b"\0" * 1024)
            raise error

        return save

    monkeypatch.setattr(model.prepared, "save_file", half_written(OSError("no space left")))
    reference, reused = placed(tiny_folder, tmp_path)  # the load itself succeeds
    assert not reused
    assert prepared_files(tmp_path) == []
    monkeypatch.setattr(model.prepared, "save_file", half_written(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        placed(tiny_folder, tmp_path)
    assert prepared_files(tmp_path) == []
    monkeypatch.setattr(model.prepared, "save_file", real_save)
    assert not placed(tiny_folder, tmp_path)[1]
    again, reused = placed(tiny_folder, tmp_path)
    assert reused
    assert_same_weights(reference, again)
