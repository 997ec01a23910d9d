"""The prepared-weights cache: the CPU default's placed weights, written once and read back.

Placing a checkpoint for the CPU default reads its fp32 weights (540 MB for the default model)
and searches every matrix for exact 4-bit groups (`model.int4.recover_int4`): seconds of work,
whose temporaries also grow the heap. The placed form (4-bit groups in the int4 kernel's own
packing, and in ours where prefill cannot read the kernel's; bf16 matrices; the fp32 embedding
table with the head's 4-bit copy; fp32 norms) is about half that size, so the first load writes
it to one safetensors file under the models dir, and later loads read it straight into the
modules with no computation at all.

The file is named by a key over the source folder (path, and size and mtime of its config and
weights), how the plan stores weights, the torch version and the kernels it dispatches to (the
int4 kernel's packing is internal to both: `model.int4.kernel_packing`; a home folder shared by
machines of different CPUs keeps a file for each) and `FORMAT`, so a changed source gets a new
file; writing it deletes the files it supersedes (the same source, storage and packing, or an
older format, as recorded in each file's metadata). A file that cannot be read or does not fit
the model is placed again from the source and rewritten; a failed write only costs the next
load that placement.
"""

import glob
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import cast

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from model.head import ApproxHead
from model.int4 import GROUP, Int4Linear, kernel_packing, reads_packing
from model.network import Transformer
from model.precision import (
    DECODE_ROWS,
    INT4_DECODE_ROWS,
    LINEARS,
    MixedLinear,
    Plan,
    install_table,
    place_weights,
    release_freed_memory,
)
from model.weights import (
    expected_names,
    iter_hf_tensors,
    our_tensors,
    read_safetensors,
    safetensors_files,
)

TABLES = ("tok_embeddings", "output")
# Bump when the stored names or layouts, or the key, change.
FORMAT = 4

log = logging.getLogger(__name__)


class PreparedMismatch(ValueError):
    """A prepared file whose tensors do not fit the model being loaded."""


def prepared_path(folder: Path, models_dir: Path, plan: Plan) -> Path:
    """Where the placed weights of `folder` under `plan` are kept."""
    parts = [
        str(folder.resolve()),
        plan.storage,
        torch.__version__,
        kernel_packing(),
        f"format {FORMAT}",
    ]
    for source in (folder / "config.json", *safetensors_files(folder)):
        stat = source.stat()
        parts.append(f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return models_dir / "prepared" / f"{folder.name}-{digest}.safetensors"


def place_cpu_weights(model: Transformer, folder: Path, models_dir: Path, plan: Plan) -> bool:
    """Fill `model` (built on the meta device) for a CPU mixed `plan`.

    Returns whether the weights came from the prepared file; otherwise they are placed from
    `folder` and the file is written for the next load.
    """
    path = prepared_path(folder, models_dir, plan)
    reused = path.exists() and _load(model, path, plan)
    if not reused:
        place_weights(model, our_tensors(iter_hf_tensors(folder)), plan, torch.device("cpu"))
        metadata = {"format": str(FORMAT), "source": str(folder.resolve()), "plan": plan.storage}
        metadata["packing"] = kernel_packing()
        if _save(model, path, metadata):
            _remove_superseded(path, metadata)
    release_freed_memory()
    return reused


def _load(model: Transformer, path: Path, plan: Plan) -> bool:
    try:
        parts, head = _parts(model, dict(read_safetensors(path)), plan.prefill_dtype)
    except Exception as error:  # whatever is wrong with the file, the source is still there
        log.warning("placing the weights again: %s is unusable (%s)", path, error)
        return False
    for module_path, part in parts.items():
        if module_path in TABLES:
            install_table(model, module_path, cast(nn.Parameter, part), plan, head)
        elif isinstance(part, nn.Parameter):
            model.get_submodule(module_path).register_parameter("weight", part)
        else:
            model.set_submodule(module_path, part)
    return True


def _parts(
    model: Transformer, tensors: dict[str, Tensor], prefill_dtype: torch.dtype
) -> tuple[dict[str, nn.Module | nn.Parameter], ApproxHead | None]:
    """The placed modules and weights that `tensors` hold, checked against `model`, and the
    head's 4-bit copy if it has one.

    All are built before any is installed, so a file that does not fit leaves `model` as it was.
    """
    parts: dict[str, nn.Module | nn.Parameter] = {}
    for name in sorted(expected_names(model)):
        module_path = name.removesuffix(".weight")
        shape = tuple(model.get_parameter(name).shape)
        if module_path.rpartition(".")[2] in LINEARS:
            parts[module_path] = _linear(tensors, module_path, shape, prefill_dtype)
        else:
            weight = _take(tensors, name, torch.float32, shape)
            parts[module_path] = nn.Parameter(weight, requires_grad=False)
    head = None
    if "output.packed" in tensors:
        table = parts["tok_embeddings" if model.config.tie_embeddings else "output"]
        vocab, dim = table.shape
        head = ApproxHead(
            cast(nn.Parameter, table),
            _take(tensors, "output.packed", torch.uint8),
            _take(tensors, "output.scales_zeros", torch.bfloat16, (dim // GROUP, vocab, 2)),
            _take(tensors, "output.error_variance", torch.float32, (dim // GROUP,)),
            decode_rows=DECODE_ROWS,
        )
    if tensors:
        raise PreparedMismatch(f"unexpected tensors {sorted(tensors)[:3]}")
    return parts, head


def _linear(
    tensors: dict[str, Tensor],
    module_path: str,
    shape: tuple[int, ...],
    prefill_dtype: torch.dtype,
) -> nn.Module:
    if f"{module_path}.packed" not in tensors:
        weight = _take(tensors, f"{module_path}.weight", torch.bfloat16, shape)
        return MixedLinear(nn.Parameter(weight, requires_grad=False), prefill_dtype)
    rows, cols = shape
    groups = (rows, cols // GROUP)
    nibbles = None
    if not reads_packing(rows):
        nibbles = _take(tensors, f"{module_path}.nibbles", torch.uint8, (rows, cols // 2))
    return Int4Linear(
        _take(tensors, f"{module_path}.packed", torch.uint8),
        _take(tensors, f"{module_path}.scales_zeros", torch.bfloat16, (cols // GROUP, rows, 2)),
        nibbles,
        _take(tensors, f"{module_path}.scale", torch.float32, groups),
        _take(tensors, f"{module_path}.low", torch.float32, groups),
        INT4_DECODE_ROWS,
        prefill_dtype,
    )


def _take(
    tensors: dict[str, Tensor], name: str, dtype: torch.dtype, shape: tuple[int, ...] | None = None
) -> Tensor:
    tensor = tensors.pop(name, None)
    if tensor is None:
        raise PreparedMismatch(f"{name} is missing")
    if tensor.dtype != dtype or (shape is not None and tuple(tensor.shape) != shape):
        raise PreparedMismatch(f"{name} is {tensor.dtype} {tuple(tensor.shape)}")
    return tensor


def _save(model: Transformer, path: Path, metadata: dict[str, str]) -> bool:
    """Write the placed weights to `path` atomically (a temporary file renamed into place);
    returns whether it was written."""
    tied = model.config.tie_embeddings
    tensors = {
        name: tensor
        for name, tensor in model.state_dict().items()
        if not (tied and name == "output.weight")  # the embedding table itself
    }
    scratch: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".writing-", suffix=".tmp", dir=path.parent)
        os.close(handle)
        scratch = Path(name)
        save_file(tensors, scratch, metadata)
        with scratch.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(scratch, path)
        return True
    except Exception as error:  # the model is placed; only the next load's speed is at stake
        log.warning("could not write the prepared weights %s (%s)", path, error)
        return False
    finally:
        if scratch is not None:
            scratch.unlink(missing_ok=True)


def _remove_superseded(path: Path, metadata: dict[str, str]) -> None:
    """Delete the files that `path` replaces: the same source, storage and packing under an older
    key (a changed source or torch version), and the same source's files of an older format
    (which no key of this format reaches) or from before the source was recorded. Other sources'
    files, and files of another storage or packing in this format, stay."""
    stem = path.name.removesuffix(".safetensors").rpartition("-")[0]
    for other in path.parent.glob(f"{glob.escape(stem)}-*.safetensors"):
        recorded = _metadata(other)
        same_source = recorded.get("source", metadata["source"]) == metadata["source"]
        same_plan = recorded.get("plan", metadata["plan"]) == metadata["plan"]
        same_packing = recorded.get("packing", metadata["packing"]) == metadata["packing"]
        older = int(recorded.get("format", "1")) < FORMAT
        if other != path and same_source and ((same_plan and same_packing) or older):
            other.unlink(missing_ok=True)


def _metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), "pt") as opened:
            return opened.metadata() or {}
    except Exception:  # an unreadable file records nothing
        return {}
