"""The CPU plans: what `auto` picks, what each multiplies in, and a plan this CPU cannot run."""

from pathlib import Path

import pytest
import torch

from model import GeneratorOptions, load_generator
from model.precision import PlanUnavailableError, plan_for, this_cpus_plan
from tests.model.conftest import TinyFactory, run_with_kernels

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


def test_torch_held_to_avx2_kernels_runs_the_plans_of_a_cpu_without_avx512() -> None:
    """`ATEN_CPU_CAPABILITY=avx2` (the Makefile's laptop pass) makes torch dispatch as on a CPU
    without AVX-512, whatever this one has: `auto` is then avx2 and the bf16 plans are refused."""
    script = (
        "import torch\n"
        "from model.precision import PlanUnavailableError, plan_for, this_cpus_plan\n"
        "print(torch.backends.cpu.get_cpu_capability(), this_cpus_plan())\n"
        "try:\n"
        "    plan_for(torch.device('cpu'), 'avx512_bf16')\n"
        "except PlanUnavailableError as error:\n"
        "    print(error)\n"
    )
    capability_and_plan, refusal = run_with_kernels("avx2", script).splitlines()
    assert capability_and_plan == "AVX2 avx2"
    assert refusal.startswith("the avx512_bf16 CPU plan needs a CPU with avx512_bf16")
