"""benchmarks/cuda_smoke.py, the GPU code path's smoke check: one line without CUDA, and its steps on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from a3t.trajectory import read_trajectories
from tests.workflow import ROOT

SMOKE = [sys.executable, str(ROOT / "benchmarks" / "cuda_smoke.py")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_without_cuda_it_says_so_in_one_line():
    proc = subprocess.run(SMOKE, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("cuda_smoke: no CUDA device here") and proc.stdout.count("\n") == 1, proc.stdout


def test_the_agent_and_trainer_load_without_textworld():
    """A GPU machine that only trains and generates has no TextWorld or ALFWorld: the smoke check must import."""
    code = "import sys, a3t.agents.llm, a3t.stages.train; print(sorted(m for m in ('textworld', 'alfworld') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr[-2000:]


def test_its_steps_run_on_the_cpu(tiny_run):
    """``--device cpu``: training through a3t.stages.train with failures at -1, generation from NF4 + adapter with the
    prefix cache, the merged CPU path on the same prompts, and the figures as JSON."""
    data = tiny_run / "results" / "round0" / "dataset" / "trajectories.jsonl"
    args = ["--device", "cpu", "--base", str(tiny_run / "results" / "base_model"), "--data", str(data)]
    proc = subprocess.run([*SMOKE, *args, "--prompts", "2", "--max-new-tokens", "8", "--max-len", "512"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    successes = [t for t in read_trajectories(data) if t.won]
    cases = [t for t in read_trajectories(data) if len(t.steps) >= 4][:2]
    assert figures["negatives"] == min(4, len(successes)) > 0  # the reward-weighted loss saw failures
    assert figures["train_tokens_per_s"] > 0 and figures["generated_tokens_per_s"] > 0
    assert figures["nf4_layers"].get("cpu", 0) > 0  # generation ran on the 4-bit base, adapter unmerged
    assert figures["replies"] == 2 * len(cases) > 0
    assert 0 <= figures["action_agreement"] <= 1 and figures["peak_gpu_mib"] is None
