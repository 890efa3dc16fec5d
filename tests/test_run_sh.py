"""runs/run.sh: a long run at a fixed commit in its own worktree, in the background, one run per folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

RUN_SH = Path(__file__).resolve().parents[1] / "runs" / "run.sh"
FAKE_SNAKEMAKE = """#!/bin/bash
printf '[%s]' "$@" >> "$(dirname "$0")/../../calls"; echo >> "$(dirname "$0")/../../calls"
test "$1" = --unlock || sleep "${FAKE_SECONDS:-0}"
"""

pytestmark = pytest.mark.skipif(not shutil.which("flock") or not Path("/usr/bin/time").exists(), reason="flock, time")


def repo_with_fake_snakemake(tmp_path: Path) -> tuple[Path, str]:
    """A git repository with one commit, whose .venv/bin/snakemake records each call's arguments."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "Snakefile").write_text("rule all:\n")
    subprocess.run([*git, "add", "Snakefile"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    fake = repo / ".venv" / "bin" / "snakemake"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_SNAKEMAKE)
    fake.chmod(0o755)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return repo, commit


def start(repo: Path, *args: str, seconds: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "FAKE_SECONDS": str(seconds)}
    return subprocess.run(["bash", str(RUN_SH), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60)


def wait_for_end(times: Path, ends: int = 1) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if times.is_file() and times.read_text().count("\nend ") >= ends:
            return
        time.sleep(0.1)
    raise AssertionError(f"{times}: no end line after 30 s")


def calls(repo: Path) -> list[list[str]]:
    """Each call's arguments, an empty one kept."""
    return [line[1:-1].split("][") for line in (repo / "calls").read_text().splitlines()]


def test_a_run_unlocks_then_runs_snakemake_with_exactly_the_arguments_given(tmp_path):
    repo, commit = repo_with_fake_snakemake(tmp_path)
    dest = tmp_path / "run-a"
    assert start(repo, commit, str(dest)).returncode == 0
    wait_for_end(Path(f"{dest}.times"))
    assert (dest / "Snakefile").is_file() and Path(f"{dest}.log").is_file()  # its own worktree at the commit
    assert calls(repo) == [["--unlock"], ["--cores", "2", "--rerun-incomplete"]]  # no empty argument when none is given
    assert start(repo, commit, str(dest), "--config", "seed=1").returncode == 0  # resumed, with arguments
    wait_for_end(Path(f"{dest}.times"), ends=2)
    assert calls(repo)[2:] == [["--unlock"], ["--cores", "2", "--rerun-incomplete", "--config", "seed=1"]]


def test_a_second_start_on_a_running_folder_is_refused_and_a_wrong_commit_named(tmp_path):
    repo, commit = repo_with_fake_snakemake(tmp_path)
    dest = tmp_path / "run-b"
    assert start(repo, commit, str(dest), seconds=5).returncode == 0
    deadline = time.monotonic() + 10
    while not (repo / "calls").is_file() or len(calls(repo)) < 2:  # the run holds its lock
        assert time.monotonic() < deadline
        time.sleep(0.1)
    second = start(repo, commit, str(dest))
    assert second.returncode == 2 and "a run is going on in" in second.stderr
    wait_for_end(Path(f"{dest}.times"))
    assert len(calls(repo)) == 2  # the refused start called nothing
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    other = start(repo, "HEAD", str(dest))  # the folder holds the first commit's worktree
    assert other.returncode == 2 and f"{dest} is not at HEAD" in other.stderr
