"""model.compute_dtype: auto: bfloat16 where the device computes it natively, else float32 (a3t.hardware), with the
capability injected: the CPU's flags, the environment's caps and the GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from a3t.hardware import AVX2_EMULATION, choose, cpu_capability, detect, slow_warning

# /proc/cpuinfo's flags of the machines measured (docs/performance.md), abridged to what decides
EPYC_ZEN1 = "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2 sha_ni\n"
ZEN4 = "flags\t\t: sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni\n"
SKYLAKE_X = "flags\t\t: sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512cd\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile\n"
GRAVITON3 = "Features\t: fp asimd evtstrm aes sha2 crc32 atomics fphp asimdhp sve sve2 bf16 i8mm\n"
GRAVITON2 = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp\n"


def cpu(cpuinfo: str, environ: dict | None = None, machine: str = "x86_64"):
    return detect(environ or {}, cpuinfo, cuda=None, machine=machine)


@pytest.mark.parametrize(
    ("cpuinfo", "environ", "machine", "line"),
    [
        (EPYC_ZEN1, {}, "x86_64", "compute dtype: float32 (CPU capability AVX2, no native bfloat16)"),
        (SKYLAKE_X, {}, "x86_64", "compute dtype: float32 (CPU capability AVX512, no native bfloat16)"),
        (ZEN4, {}, "x86_64", "compute dtype: bfloat16 (CPU capability AVX512, native bfloat16: avx512_bf16)"),
        (SAPPHIRE_RAPIDS, {}, "x86_64",
         "compute dtype: bfloat16 (CPU capability AVX512, native bfloat16: amx_bf16, avx512_bf16)"),
        (ZEN4, AVX2_EMULATION, "x86_64",
         "compute dtype: float32 (CPU capability AVX2, no native bfloat16: ONEDNN_MAX_CPU_ISA=AVX2 hides avx512_bf16)"),
        (ZEN4, {"ONEDNN_MAX_CPU_ISA": "avx512_core"}, "x86_64",
         "compute dtype: float32 (CPU capability AVX512, no native bfloat16: ONEDNN_MAX_CPU_ISA=AVX512_CORE hides avx512_bf16)"),
        (ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "x86_64",
         "compute dtype: bfloat16 (CPU capability AVX512, native bfloat16: avx512_bf16)"),
        (GRAVITON3, {}, "aarch64", "compute dtype: bfloat16 (CPU capability DEFAULT, native bfloat16: bf16)"),
        (GRAVITON2, {}, "aarch64", "compute dtype: float32 (CPU capability DEFAULT, no native bfloat16)"),
    ],
)  # fmt: skip
def test_auto_picks_bfloat16_only_where_the_cpu_computes_it_natively(cpuinfo, environ, machine, line):
    assert choose("auto", cpu(cpuinfo, environ, machine)).line == line


def test_auto_on_cuda_follows_the_compute_capability():
    h200 = detect({}, EPYC_ZEN1, cuda=("NVIDIA H200", (9, 0)))
    t4 = detect({}, ZEN4, cuda=("Tesla T4", (7, 5)))
    assert choose("auto", h200).line == "compute dtype: bfloat16 (CUDA capability 9.0 (NVIDIA H200), native bfloat16: " \
        "bfloat16 tensor cores)"  # fmt: skip
    assert choose("auto", t4).dtype == "float32" and not choose("float32", t4).slow  # the GPU decides, not the host CPU


def test_a_named_dtype_is_kept_and_bfloat16_without_native_support_warns_with_its_cost():
    avx2 = cpu(EPYC_ZEN1)
    named = choose("bfloat16", avx2)
    assert named.dtype == "bfloat16" and named.slow
    assert choose("float32", cpu(ZEN4)).dtype == "float32" and not choose("bfloat16", cpu(ZEN4)).slow
    warning = slow_warning(named, measured=(24.0, 0.8))
    assert warning.startswith("warning: compute dtype bfloat16 without native support (CPU capability AVX2")
    assert "30x slower than in float32 (0.8 against 24.0 GFLOPS)" in warning and "auto picks float32" in warning
    assert "slower than float32" in slow_warning(named)  # before a stage runs (Snakemake's parse): the measured ratio
    with pytest.raises(ValueError, match="'bf16': expected one of auto, float32, bfloat16, float16"):
        choose("bf16", avx2)


def test_the_capability_without_torch_is_the_one_torch_reports():
    """a3t.hardware reads the capability without importing torch (Snakemake's parse); torch's own answer agrees, here
    and under ATEN_CPU_CAPABILITY, as a stage's process sees them."""
    code = (
        "import json, torch; from a3t.hardware import detect; h = detect(cuda=None); "
        "print(json.dumps([h.capability, 'CPU capability ' + torch.backends.cpu.get_cpu_capability(), h.native_bf16, "
        "torch.ops.mkldnn._is_mkldnn_bf16_supported()]))"
    )
    for extra in ({}, AVX2_EMULATION):
        env = {k: v for k, v in os.environ.items() if k not in AVX2_EMULATION} | extra
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
        ours, torchs, native, onednn_bf16 = json.loads(out)
        assert ours == torchs, extra
        assert not native or onednn_bf16, extra  # native here: oneDNN has its bfloat16 kernels too


def test_cpu_capability_is_lowered_by_aten_cpu_capability_never_raised():
    flags = {"avx2", "fma"}
    assert cpu_capability(flags, {}, "x86_64") == "AVX2"
    assert cpu_capability(flags, {"ATEN_CPU_CAPABILITY": "avx512"}, "x86_64") == "AVX2"
    assert cpu_capability(flags, {"ATEN_CPU_CAPABILITY": "default"}, "x86_64") == "DEFAULT"
    assert cpu_capability(set(), {}, "x86_64") == "DEFAULT"


def test_auto_is_resolved_once_where_the_run_is_planned_and_its_jobs_keep_it():
    """A job that a cluster starts on another machine parses the workflow again: it keeps the planned dtype (through
    the environment it inherits), so that its params, and the tree's signatures, are the run's."""
    from a3t.hardware import PLANNED, choose_for_run

    planner: dict[str, str] = {}
    first = choose_for_run("auto", planner)
    assert planner == {PLANNED: first.dtype}
    other = "float32" if first.dtype == "bfloat16" else "bfloat16"
    job = choose_for_run("auto", {PLANNED: other})  # the planner chose what this machine would not
    assert job.dtype == other and job.line.startswith(f"compute dtype (auto, as planned): {other} (")
    named = choose_for_run("float32", {PLANNED: "bfloat16"})  # a named dtype is the config's, whatever was planned
    assert named.dtype == "float32"
    assert choose_for_run("auto", {PLANNED: "garbage"}).dtype == first.dtype
