"""The CPU plans: what `auto` picks, what each multiplies in, and a plan this CPU cannot run."""

from pathlib import Path

import pytest
import torch

from model import GeneratorOptions, load_generator
from model.precision import PlanUnavailableError, plan_for, this_cpus_plan
from tests.model.conftest import TinyFactory

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("features", "auto"),
    [({"amx_bf16", "avx512_bf16"}, "amx"), ({"avx512_bf16"}, "avx512_bf16"), (set(), "avx2")],
)
def test_auto_picks_the_first_plan_this_cpu_has(
    monkeypatch: pytest.MonkeyPatch, features: set[str], auto: str
) -> None:
    monkeypatch.setattr("model.precision.cpu_has", lambda feature: feature in features)
    assert this_cpus_plan() == auto
    plan = plan_for(CPU, "auto")
    assert plan.name == auto
    assert plan.prefill_dtype == (torch.float32 if auto == "avx2" else torch.bfloat16)
    assert plan.label.startswith(f"{auto}: ")
    avx2 = plan_for(CPU, "avx2")  # on any CPU
    assert (avx2.name, avx2.prefill_dtype, avx2.int4) == ("avx2", torch.float32, plan.int4)
    assert plan_for(CPU, "fp32").label == "fp32: fp32"


def test_a_plan_whose_instructions_the_cpu_lacks_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, make_tiny: TinyFactory, tmp_path: Path
) -> None:
    monkeypatch.setattr("model.precision.cpu_has", lambda feature: feature == "avx512_bf16")
    with pytest.raises(PlanUnavailableError, match="the amx CPU plan needs a CPU with amx_bf16"):
        load_generator(make_tiny()[0], tmp_path, GeneratorOptions(precision="amx"))
    assert plan_for(CPU, "avx512_bf16").prefill_dtype == torch.bfloat16
