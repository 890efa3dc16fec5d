"""runs/real_games.sh: the real valid_seen games for a finished run's rounds, with the run's own settings, resumable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "runs" / "real_games.sh"
FAKE_SNAKEMAKE = """#!/bin/bash
printf '[%s]' "$@" >> "$(dirname "$0")/../../snakemake-calls"; echo >> "$(dirname "$0")/../../snakemake-calls"
"""
FAKE_PYTHON = f"""#!/bin/bash
test "$1" = -c && exec {sys.executable} "$@"   # reading the manifest: the real interpreter
printf '[%s]' "$@" >> "$(dirname "$0")/../../python-calls"; echo >> "$(dirname "$0")/../../python-calls"
while (($#)); do test "$1" = --summary && echo '{{"splits": {{}}}}' > "$2"; shift; done
"""
SETTINGS = {"seed": 1, "eval": {"step_limit": 50}}

pytestmark = pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="/usr/bin/time")


def fake_repo_and_run(tmp_path: Path) -> tuple[Path, Path]:
    """A git repository whose .venv has a recording snakemake and python, and a finished run with rounds 0 and 4."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for name, text in (("snakemake", FAKE_SNAKEMAKE), ("python", FAKE_PYTHON)):
        fake = repo / ".venv" / "bin" / name
        fake.parent.mkdir(parents=True, exist_ok=True)
        fake.write_text(text)
        fake.chmod(0o755)
    run = tmp_path / "run"
    manifest = run / "results" / "round0" / "shards" / "eval" / "1of8" / "manifest.json"  # any shard count
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"config": {"settings": SETTINGS}}))
    for k in (0, 4):
        (run / "results" / f"round{k}" / "adapter").mkdir(parents=True)
    return repo, run


def start(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {})}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=repo, capture_output=True, text=True, timeout=60, env=environ)


def calls(path: Path) -> list[list[str]]:
    return [line[1:-1].split("][") for line in path.read_text().splitlines()] if path.is_file() else []


@pytest.mark.skipif(not shutil.which("git"), reason="git")
def test_rounds_0_and_4_are_played_with_the_runs_settings_then_skipped(tmp_path):
    repo, run = fake_repo_and_run(tmp_path)
    out = tmp_path / "real"
    done = start(repo, str(run), str(out))
    assert done.returncode == 0, done.stderr
    assert calls(repo / "snakemake-calls")[0][-3:] == [
        "results/games/alfworld_valid_seen/manifest.csv", "--configfile", "config/experiments/smollm2-real.yaml"
    ]  # fmt: skip
    played = calls(repo / "python-calls")
    assert [c[c.index("--round") + 1] for c in played] == ["0", "4"]
    first = played[0]
    assert json.loads(first[first.index("--config") + 1]) == SETTINGS  # the run's own, its seed included
    assert first[first.index("--adapter") + 1] == "results/round0/adapter"
    assert first[first.index("--out") + 1] == f"{out}/round0/eval" and (out / "round4" / "eval.json").is_file()
    again = start(repo, str(run), str(out))  # resumed: both rounds are there
    assert again.returncode == 0 and len(calls(repo / "python-calls")) == 2
    assert "round 4: " in again.stdout and "is there already" in again.stdout


@pytest.mark.skipif(not shutil.which("git"), reason="git")
def test_compute_dtype_overrides_only_the_runs_dtype(tmp_path):
    repo, run = fake_repo_and_run(tmp_path)
    done = start(repo, str(run), str(tmp_path / "real"), "4", env={"COMPUTE_DTYPE": "float32"})
    assert done.returncode == 0, done.stderr
    (played,) = calls(repo / "python-calls")
    assert json.loads(played[played.index("--config") + 1]) == {**SETTINGS, "model": {"compute_dtype": "float32"}}


@pytest.mark.skipif(not shutil.which("git"), reason="git")
def test_a_round_without_an_adapter_is_named(tmp_path):
    repo, run = fake_repo_and_run(tmp_path)
    failed = start(repo, str(run), str(tmp_path / "real"), "3")
    assert failed.returncode == 2 and "results/round3/adapter: no such adapter" in failed.stderr
    assert calls(repo / "python-calls") == []
