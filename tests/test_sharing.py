"""A result tree that travels: clone A's results/ (round 0), packed with ``tar`` and unpacked in clone B,
at another path and with its own copy of the sources, is as fresh in B as in A, B extends it by a round to
the same bytes as A, and then reruns exactly what A reruns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow import (
    CODE_CASES,
    CONFIG_CASES,
    EXPLORE,
    ROLLOUT,
    ROOT,
    ROUND1,
    TINY,
    changed_config,
    planned,
    snakemake,
    workflow_copy,
)

# A's round 1 and report, left out of the tree that travels: B makes them itself
ROUND1_AND_REPORT = ("round1", "*/round1", "*/round=1", "summary.*", "plots", "*/report", "*/report.*")


@pytest.fixture(scope="module")
def clone_b(tiny_run, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Clone B: the workflow and a3t's sources copied to another folder (B's jobs import B's a3t), and A's
    results/ of round 0 unpacked there with tar (which keeps modification times)."""
    b = workflow_copy(tmp_path_factory.mktemp("clone_b"))
    shutil.copytree(ROOT / "src", b / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    archive = b.parent / "results.tar"
    excludes = [f"--exclude=results/{pattern}" for pattern in ROUND1_AND_REPORT]
    subprocess.run(["tar", "-cf", str(archive), *excludes, "results"], cwd=tiny_run, check=True)
    subprocess.run(["tar", "-xf", str(archive)], cwd=b, check=True)
    assert (b / "results" / "round0" / "eval.json").is_file() and not (b / "results" / "round1").exists()
    env = os.environ | {"PYTHONPATH": str(b / "src")}
    return b, env


def _verify(workdir: Path, env: dict[str, str] | None, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "a3t.cli", "verify", "results", "--configfile", *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


def test_the_unpacked_tree_is_fresh_in_the_other_clone(clone_b):
    b, env = clone_b
    code = subprocess.run([sys.executable, "-c", "import a3t; print(a3t.__file__)"], env=env, capture_output=True, text=True)
    assert code.stdout.startswith(str(b / "src")), code.stdout  # B's jobs run B's copy of the code
    assert planned(b, "results/round0/eval.json", env=env) == {}
    proc = _verify(b, env, str(TINY))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all match" in proc.stdout and "all current" in proc.stdout


def test_the_other_clone_extends_the_tree_to_the_same_bytes(tiny_run, clone_b):
    """B reuses A's round 0 and makes round 1 alone; its eval.json equals the one A made extending itself."""
    b, env = clone_b
    target = "results/round1/eval.json"
    assert planned(b, target, env=env) == {**ROLLOUT, **EXPLORE, **ROUND1}
    proc = snakemake(b, target, "--configfile", str(TINY), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (b / "results" / "round1" / "eval.json").read_bytes() == (tiny_run / "results" / "round1" / "eval.json").read_bytes()
    assert planned(b, target, env=env) == {}  # CONFIG_CASES[0]: now nothing to do in B as in A


@pytest.mark.parametrize("change, target, expected", CONFIG_CASES[1:])  # [0], nothing changed: the test above
def test_a_config_change_reruns_the_same_jobs_in_both_clones(clone_b, change, target, expected):
    """B has made round 1 by now; ``expected`` is what the same change plans in A
    (test_workflow.py::test_config_change_reruns_exactly_downstream)."""
    b, env = clone_b
    assert planned(b, target, changed_config(*change), env=env) == expected


@pytest.mark.parametrize("module, target, expected", CODE_CASES)
def test_a_code_edit_reruns_the_same_jobs_in_both_clones(clone_b, module, target, expected):
    """An edit of B's copy of the sources; ``expected`` is what the same edit plans in A
    (test_workflow.py::test_code_change_reruns_the_rules_that_import_it). B has made round 1 by now."""
    b, env = clone_b
    if target == "results/summary.csv":  # the report did not travel: make it first
        assert snakemake(b, target, "--configfile", str(TINY), env=env).returncode == 0
    path = b / "src" / "a3t" / module
    text = path.read_bytes()
    try:
        path.write_bytes(text + b"\n# edited by a test\n")
        assert planned(b, target, env=env) == expected
    finally:
        path.write_bytes(text)


def test_verify_names_the_stale_stages_and_what_differs(clone_b, tmp_path):
    b, env = clone_b
    config = tmp_path / "changed.yaml"
    config.write_text(yaml.safe_dump(changed_config("train", "fail_weight", -0.5)))
    proc = _verify(b, env, str(config))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "stale     train[round=1]: " in proc.stdout and "params.settings.train.fail_weight: -1.0 -> -0.5" in proc.stdout
    assert "train[round=0]" not in proc.stdout  # round 0 is SFT: failures' weight does not reach it
    assert "a run would make: " in proc.stdout and "train 1" in proc.stdout  # round 1, and what follows
    filter_py = b / "src" / "a3t" / "stages" / "filter.py"  # a tree made at another code version
    text = filter_py.read_bytes()
    try:
        filter_py.write_bytes(text + b"\n# another version\n")
        proc = _verify(b, env, str(TINY))
    finally:
        filter_py.write_bytes(text)
    assert proc.returncode == 1 and "stale     filter[round=1]: code a3t/stages/filter.py (edited)" in proc.stdout, proc.stdout


def test_a_damaged_adapter_is_one_clear_error(tiny_run, tmp_path, capsys):
    """A truncated adapter_model.safetensors in a received tree: the stage that reads it says so in one line."""
    from a3t.agents.modeling import load_agent
    from a3t.io import run_cli

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_run / "results" / "round1" / "adapter", adapter)
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    base = str(tiny_run / "results" / "base_model")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda argv: load_agent(base, str(adapter), quantize=True, merge=True))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # (progress bars aside)
    assert len(errors) == 1 and errors[0].startswith(f"error: {adapter}/adapter_model.safetensors: damaged"), err
