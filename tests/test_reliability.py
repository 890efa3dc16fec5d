"""Exact reruns: a second run, killed mid-training and resumed, gives the first one's bytes; every
bad input gets one clear message, a non-zero exit and no output."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.workflow import TINY, snakemake, snakemake_cmd, workflow_copy


def _result_files(results: Path, parts: tuple[str, ...]) -> dict[str, bytes]:
    """Trajectories, eval.json files and adapter weights under ``results/<part>``, by relative path."""
    out = {}
    for part in parts:
        for path in sorted((results / part).rglob("*")):
            if path.suffix in (".jsonl", ".safetensors") or path.name == "eval.json":
                out[path.relative_to(results).as_posix()] = path.read_bytes()
    return out


ROUND_0 = ("pretrain", "base_model", "round0/teacher", "round0/dataset", "round0/adapter")
EVERY_STAGE = ("base_model/model.safetensors", "round0/teacher/trajectories.jsonl", "round0/adapter/adapter_model.safetensors")


def test_a_run_killed_while_training_resumes_to_the_same_bytes(tiny_run, tmp_path):
    """A second run to round 0's adapter, on the tiny run's games (tests/test_games.py: the same seed gives the
    same bytes), killed (kill -9, the whole pipeline) while round 0 trains, unlocked and run again: Snakemake
    reruns that job, and every file from the pretraining text to the adapter is byte-identical to the tiny
    run's (two runs give the same bytes, and a crash costs nothing but the job it interrupted). Evaluation
    and later rounds: tests/test_sharing.py makes round 1 again in another clone, to the same bytes."""
    target = ("results/round0/adapter", "--configfile", str(TINY))
    reference = tiny_run
    wd = workflow_copy(tmp_path)
    for part in ("games", "signatures/games"):
        shutil.copytree(reference / "results" / part, wd / "results" / part)
    proc = subprocess.Popen(
        snakemake_cmd(*target), cwd=wd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    round0 = wd / "results" / "round0"
    deadline = time.monotonic() + 600
    while not list(round0.glob(".adapter.*.tmp")):  # the trainer is writing its output
        assert proc.poll() is None and time.monotonic() < deadline, "training never started"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (round0 / "adapter").exists()  # killed mid-job: nothing half-written in place
    assert "cannot be locked" in snakemake(wd, *target).stderr  # Snakemake's guard against a second instance
    assert snakemake(wd, "--unlock", *target[1:]).returncode == 0  # the README's recovery: unlock, run again
    proc = snakemake(wd, *target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Missing output files: results/round0/adapter" in proc.stdout + proc.stderr
    assert not (wd / "results" / "logs" / "games").exists()  # the copied games were current: never made again
    assert not list(round0.glob(".*.tmp"))  # the killed job's temporaries are gone
    first, second = _result_files(reference / "results", ROUND_0), _result_files(wd / "results", ROUND_0)
    assert set(EVERY_STAGE) <= set(first)
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


# ---- bad input: one line naming the problem, exit status 2, no traceback, no output -------------------


def _trajectory(**kw) -> dict:
    return {"task_id": "t", "task_type": "pick_and_place_simple", "goal": "g", "initial_observation": "o", "won": True} | {
        "steps": [{"action": "look", "observation": "x"}],
        **kw,
    }


def _files(tmp: Path, games_dir: Path) -> dict[str, Path]:
    """The bad inputs of the table below, made in ``tmp``."""
    good = tmp / "good.jsonl"
    good.write_text(json.dumps(_trajectory()) + "\n")
    truncated = tmp / "truncated.jsonl"
    truncated.write_text(json.dumps(_trajectory()) + "\n" + json.dumps(_trajectory(task_id="u"))[:40] + "\n")
    not_traj = tmp / "not_trajectory.jsonl"
    not_traj.write_text(json.dumps({"task_id": "t"}) + "\n")
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    corrupt = tmp / "corrupt_games"
    shutil.copytree(games_dir, corrupt)
    game = sorted(corrupt.rglob("*.tw-pddl"))[0]
    game.write_text(game.read_text()[:100])
    manifest = corrupt / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(str(games_dir), str(corrupt)))
    (tmp / "no_games" / "valid_seen").mkdir(parents=True)
    return {"good": good, "truncated": truncated, "not_traj": not_traj, "empty": empty, "corrupt": manifest, "game": game}


OUT = "{tmp}/out"
BAD_INPUTS = [  # (what, CLI args, message)
    (
        "missing games directory",
        ["a3t.stages.demos", "--games", "{tmp}/nowhere/manifest.csv", "--out", OUT],
        "games manifest not found",
    ),
    (
        "corrupt game file",
        ["a3t.stages.demos", "--games", "{corrupt}", "--out", OUT, "--workers", "0"],
        "{game}: corrupt game file",
    ),
    ("truncated trajectory line", ["a3t.stages.dataset", "--add", "{truncated}", "--out", OUT], "{truncated}:2: not a JSON line"),
    (
        "JSON line that is no trajectory",
        ["a3t.stages.dataset", "--add", "{not_traj}", "--out", OUT],
        "{not_traj}:1: not a trajectory",
    ),
    (
        "missing trajectory file",
        ["a3t.stages.filter", "--rollouts", "{tmp}/none.jsonl", "--explore", "{good}", "--out", OUT],
        "file not found",
    ),
    ("empty dataset", ["a3t.stages.train", "--base", "{tmp}", "--data", "{empty}", "--out", OUT], "empty training set"),
    ("missing model path", ["a3t.stages.train", "--base", "{tmp}/no_model", "--data", "{good}", "--out", OUT], "model path"),
    (
        "missing adapter",
        ["a3t.stages.evaluate", "--base", "{tmp}", "--adapter", "{tmp}/no_adapter", "--games", "train={corrupt}", "--out", OUT],
        "adapter '{tmp}/no_adapter' not found",
    ),
    (
        "real data directory missing",
        ["a3t.stages.games", "--split", "valid_seen", "--out", OUT, "--data-dir", "{tmp}/x"],
        "not found",
    ),
    (
        "split with no solvable game",
        ["a3t.stages.games", "--split", "valid_seen", "--out", OUT, "--data-dir", "{tmp}/no_games"],
        "no solvable game",
    ),
    ("split with zero games", ["a3t.stages.games", "--split", "train", "--out", OUT, "--per-type", "0"], "has zero games"),
    (
        "unknown task type",
        ["a3t.stages.games", "--split", "train", "--out", OUT, "--task-types", "juggle"],
        "pick_two_obj_and_place",
    ),
    (
        "step limit 0",
        ["a3t.stages.demos", "--games", "{corrupt}", "--out", OUT, "--step-limit", "0"],
        "--step-limit must be >= 1",
    ),
    (
        "exploration p outside [0, 1]",
        [
            "a3t.stages.explore",
            "--base",
            "{tmp}",
            "--rollouts",
            "{good}",
            "--games",
            "{corrupt}",
            "--out",
            OUT,
            "--p-sample",
            "2",
        ],
        "--p-sample must be in [0, 1]",
    ),
    ("trajectory viewer on a missing file", ["a3t.show", "{tmp}/none.jsonl"], "no such file"),
]


@pytest.mark.parametrize("what, args, message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_one_clear_error(tmp_path, games_dir, capsys, what, args, message):
    """Each stage CLI as ``python -m`` runs it (``run_cli``), in this process to save the imports."""
    from a3t.io import run_cli

    names = {k: str(v) for k, v in _files(tmp_path, games_dir).items()} | {"tmp": str(tmp_path)}
    module, *rest = (a.format(**names) for a in args)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(importlib.import_module(module).main, rest)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, (what, err[-2000:])
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message.format(**names) in errors[0], err[-2000:]  # one line names the problem
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
