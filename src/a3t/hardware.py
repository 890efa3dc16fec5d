"""Which compute dtype the hardware runs fast: ``model.compute_dtype: auto`` picks bfloat16 where the device
computes it natively, float32 elsewhere. One rule for training and acting, light enough for Snakemake's parse
(no torch import).

Natively means: a CUDA device of compute capability 8.0 or newer; an x86 CPU with ``avx512_bf16`` or ``amx_bf16``
whose oneDNN is not capped below them (``ONEDNN_MAX_CPU_ISA``); an ARM CPU with ``bf16``. Elsewhere torch computes
bfloat16 matmuls without such kernels: tens of times slower than float32 on an AVX2 CPU (docs/performance.md).

    python -m a3t.hardware            # the line a stage logs: compute dtype: float32 (CPU capability AVX2, ...)
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

DTYPES = ("auto", "float32", "bfloat16", "float16")
# what auto resolved to where Snakemake planned the run: its jobs inherit it, so that a job that a cluster starts on
# another machine (and that parses the workflow again there) runs with the dtype the run's signatures record
PLANNED = "A3T_AUTO_DTYPE"
# .ci/run's emulation of an AVX2-only CPU (docs/performance.md): torch's, oneDNN's and MKL's kernels capped at AVX2
AVX2_EMULATION = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
# oneDNN's ISA caps below the first with bfloat16 instructions (AVX512_CORE_BF16); ONEDNN_MAX_CPU_ISA's values
ONEDNN_NO_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
CAPABILITIES = ("DEFAULT", "AVX2", "AVX512")  # torch's x86 dispatch levels, lowest first
AVX512 = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}  # what torch's AVX512 level asks of a CPU
# measured on a first-generation EPYC (AVX2, FMA), 2 threads, a 1024x576 @ 576x1536 matmul (docs/performance.md)
AVX2_SLOWDOWN = "about 30x (0.8 against 24 GFLOPS on an AVX2 EPYC)"


@dataclass(frozen=True)
class Hardware:
    """Where a stage computes, and whether it computes bfloat16 natively (``why``: the flag that says so, or why not)."""

    device: str  # "cpu" or "cuda"
    capability: str  # "CPU capability AVX2", "CUDA capability 9.0 (NVIDIA H200)"
    native_bf16: bool
    why: str


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str  # float32, bfloat16 or float16
    line: str  # compute dtype: float32 (CPU capability AVX2, no native bfloat16)
    hardware: Hardware

    @property
    def slow(self) -> bool:
        """bfloat16 where it is not native: one warning line says what it costs."""
        return self.dtype == "bfloat16" and not self.hardware.native_bf16


def _cpu_flags(cpuinfo: str) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo's text (x86 ``flags``, ARM ``Features``)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _macos_bf16() -> bool:
    try:
        out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == "1"


def _cuda(environ: Mapping[str, str]) -> tuple[str, tuple[int, int]] | None:
    """The first visible CUDA device (name, capability), or None: from torch when a stage has imported it, else from
    nvidia-smi (Snakemake's parse imports no torch)."""
    if environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return None
    torch = sys.modules.get("torch")
    if torch is not None:
        if not torch.cuda.is_available():
            return None
        return torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
        name, cap = out.stdout.splitlines()[0].rsplit(",", 1)
        major, minor = cap.strip().split(".")
        return name.strip(), (int(major), int(minor))
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None


def cpu_capability(flags: set[str], environ: Mapping[str, str], machine: str | None = None) -> str:
    """torch's CPU dispatch level (``torch.backends.cpu.get_cpu_capability()``) without importing torch: the CPU's,
    lowered by ``ATEN_CPU_CAPABILITY`` as torch lowers it."""
    machine = machine or platform.machine()
    if machine.lower() not in ("x86_64", "amd64", "i686", "x86"):
        return "DEFAULT" if not environ.get("ATEN_CPU_CAPABILITY") else environ["ATEN_CPU_CAPABILITY"].upper()
    level = "AVX512" if AVX512 <= flags else "AVX2" if {"avx2", "fma"} <= flags else "DEFAULT"
    asked = environ.get("ATEN_CPU_CAPABILITY", "").upper()
    if asked in CAPABILITIES and CAPABILITIES.index(asked) < CAPABILITIES.index(level):
        level = asked
    return level


def detect(
    environ: Mapping[str, str] | None = None,
    cpuinfo: str | None = None,
    cuda: tuple[str, tuple[int, int]] | None | bool = True,
    machine: str | None = None,
) -> Hardware:
    """The hardware a stage run here computes on. Each source can be injected (tests): ``environ`` (default:
    os.environ), ``cpuinfo`` (/proc/cpuinfo's text), ``cuda`` ((name, (major, minor)); None: no GPU; True: look)."""
    environ = os.environ if environ is None else environ
    gpu = _cuda(environ) if cuda is True else cuda or None
    if gpu is not None:
        name, (major, minor) = gpu
        native = major >= 8
        why = "bfloat16 tensor cores" if native else "no bfloat16 tensor cores (compute capability < 8.0)"
        return Hardware("cuda", f"CUDA capability {major}.{minor} ({name})", native, why)
    machine = machine or platform.machine()
    flags = _cpu_flags(_read_cpuinfo() if cpuinfo is None else cpuinfo)
    capability = f"CPU capability {cpu_capability(flags, environ, machine)}"
    if sys.platform == "darwin" and cpuinfo is None:
        native = _macos_bf16()
        return Hardware("cpu", capability, native, "FEAT_BF16" if native else "no native bfloat16")
    found = sorted(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    if not found:
        return Hardware("cpu", capability, False, "no native bfloat16")
    cap = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if cap in ONEDNN_NO_BF16:
        return Hardware("cpu", capability, False, f"no native bfloat16: ONEDNN_MAX_CPU_ISA={cap} hides {', '.join(found)}")
    return Hardware("cpu", capability, True, ", ".join(found))


def choose(requested: str, hardware: Hardware | None = None) -> DtypeChoice:
    """The compute dtype for ``requested`` (``auto`` or a dtype) on ``hardware`` (default: this machine's), with the
    one line that says why."""
    if requested not in DTYPES:
        raise ValueError(f"compute dtype {requested!r}: expected one of {', '.join(DTYPES)}")
    hw = hardware or detect()
    dtype = ("bfloat16" if hw.native_bf16 else "float32") if requested == "auto" else requested
    native = f"native bfloat16: {hw.why}" if hw.native_bf16 else hw.why
    line = f"compute dtype: {dtype} ({hw.capability}, {native})"
    return DtypeChoice(dtype, line, hw)


def choose_for_run(requested: str, environ: dict | None = None) -> DtypeChoice:
    """:func:`choose` for a workflow run: ``auto`` is resolved once, where Snakemake plans, and kept in the environment
    (``A3T_AUTO_DTYPE``) that its jobs inherit; a job's own parse of the workflow then keeps that dtype, whatever its
    machine would pick (the stage still logs its own hardware, and warns where bfloat16 is not native)."""
    environ = os.environ if environ is None else environ
    planned = environ.get(PLANNED, "")
    if requested == "auto" and planned in DTYPES[1:]:
        choice = choose(planned)
        return DtypeChoice(planned, choice.line.replace("compute dtype: ", "compute dtype (auto, as planned): ", 1),
                           choice.hardware)  # fmt: skip
    choice = choose(requested)
    if requested == "auto":
        environ[PLANNED] = choice.dtype
    return choice


def slow_warning(choice: DtypeChoice, measured: tuple[float, float] | None = None) -> str:
    """The one warning line for bfloat16 where it is not native; ``measured``: (float32, bfloat16) GFLOPS here."""
    if measured:
        f32, bf16 = measured
        cost = f"a matmul here runs {f32 / max(bf16, 1e-9):.0f}x slower than in float32 ({bf16:.1f} against {f32:.1f} GFLOPS)"
    else:
        cost = f"its matmuls run {AVX2_SLOWDOWN} slower than float32 on such a CPU"
    hw = choice.hardware
    return f"warning: compute dtype bfloat16 without native support ({hw.capability}, {hw.why}): {cost}; auto picks float32"


def measure_matmul(threads: int | None = None, size: int = 256, seconds: float = 0.2) -> tuple[float, float]:
    """(float32, bfloat16) GFLOPS of a ``size``-cubed matmul on this CPU: what bfloat16 costs here, in a second."""
    import time

    import torch

    if threads:
        torch.set_num_threads(threads)
    out = []
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        a @ b
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            reps += 1
        out.append(2 * size**3 * reps / (time.perf_counter() - start) / 1e9)
    return out[0], out[1]


def resolve_arg(args, name: str = "compute_dtype") -> str:
    """A stage CLI's dtype argument ``args.<name>`` as :func:`resolve` chooses it, in place (``auto`` becomes the
    dtype); the line, for the stage's manifest."""
    choice = resolve(getattr(args, name))
    setattr(args, name, choice.dtype)
    return choice.line


def resolve(requested: str, measure: bool = True) -> DtypeChoice:
    """A stage's compute dtype: chosen for this machine, its line printed (the stage's log), and for bfloat16 where it is
    not native one warning line with what it costs here (measured when ``measure``)."""
    choice = choose(requested)
    print(choice.line, flush=True)
    if choice.slow:
        measured = measure_matmul() if measure and choice.hardware.device == "cpu" else None
        print(slow_warning(choice, measured), file=sys.stderr, flush=True)
    return choice


if __name__ == "__main__":
    print(choose(sys.argv[1] if len(sys.argv) > 1 else "auto").line)


ENGINES = ("auto", "torch", "llamacpp", "vllm")
LLAMACPP_INSTALL = "make .venv/.llamacpp (builds llama-cpp-python from source with cmake and a C++ compiler)"


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # torch, llamacpp or vllm
    line: str  # engine: llamacpp (auto: llama.cpp installed, no CUDA device)


def llamacpp_installed() -> bool:
    """Whether the ``llama_cpp`` package is installed (found, not imported: light enough for Snakemake's parse)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def choose_engine(requested: str, hardware: Hardware | None = None, installed: bool | None = None) -> EngineChoice:
    """The agent's generation engine for ``model.engine``: ``auto`` is llama.cpp where it is installed and the agent
    acts on a CPU without native bfloat16, else torch (a CUDA device, or a CPU where torch computes bfloat16 natively:
    there torch's prefill is several times llama.cpp's, docs/performance.md; vLLM is named, never picked)."""
    if requested not in ENGINES:
        raise ValueError(f"model.engine {requested!r}: expected one of {', '.join(ENGINES)}")
    installed = llamacpp_installed() if installed is None else installed
    if requested == "llamacpp" and not installed:
        raise ValueError(f"model.engine llamacpp: the llama_cpp package is not installed; {LLAMACPP_INSTALL}")
    if requested != "auto":
        return EngineChoice(requested, f"engine: {requested}")
    hw = hardware or detect()
    if hw.device == "cuda":
        return EngineChoice("torch", f"engine: torch (auto: a CUDA device, {hw.capability})")
    if hw.native_bf16:
        return EngineChoice("torch", f"engine: torch (auto: torch computes bfloat16 natively here, {hw.why})")
    if not installed:
        return EngineChoice("torch", f"engine: torch (auto: llama.cpp is not installed here; {LLAMACPP_INSTALL})")
    why = f"auto: llama.cpp installed, a CPU without native bfloat16, {hw.capability}"
    return EngineChoice("llamacpp", f"engine: llamacpp ({why})")
