"""Shards: rollout, explore and evaluate split across jobs (a3t.stages.gather) give the same gathered bytes for any count."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from a3t.io import A3TError
from a3t.shards import parse_shard, shard_of
from tests.workflow import TINY, snakemake

# (stage, its target in the tiny run, the gathered files compared): the tiny run plays 1 shard (shards.count)
STAGES = [
    (
        "evaluate",
        "results/round0/eval.json",
        ["round0/eval/valid_unseen.jsonl", "round0/eval/valid_seen.jsonl", "round0/eval.json"],
    ),  # noqa: E501
    ("rollout", "results/round1/rollouts", ["round1/rollouts/train.jsonl", "round1/rollouts/eval.json"]),
    ("explore", "results/round1/explore/trajectories.jsonl", ["round1/explore/trajectories.jsonl"]),
]


def test_a_shard_is_every_nth_task_by_sorted_id():
    ids = ["t3", "t1", "t5", "t2", "t4"]
    assert [shard_of(ids, f"{i}of2") for i in (1, 2)] == [["t1", "t3", "t5"], ["t2", "t4"]]
    assert sorted(x for i in (1, 2, 3) for x in shard_of(ids, f"{i}of3")) == sorted(ids)  # a partition
    assert shard_of(ids, "5of6") == ["t5"] and shard_of(ids, "6of6") == []
    for bad in ("0of2", "3of2", "2/3", "x"):
        with pytest.raises(A3TError, match="IofN"):
            parse_shard(bad)


def _shard_commands(workdir: Path) -> dict[str, list[str]]:
    """The arguments of each stage's one shard as the tiny run's rules give them (``snakemake -n -p``)."""
    proc = snakemake(workdir, "-n", "-p", "--forceall", *(target for _, target, _ in STAGES), "--configfile", str(TINY))
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = {}
    for line in proc.stdout.splitlines():
        for stage in ("evaluate", "explore", "rollout"):
            if f"-m a3t.stages.{stage} " in line and "--shard 1of1" in line:  # the targets: round 0's eval, round 1's others
                args = shlex.split(line.split(" > ")[0])
                commands[stage] = args[args.index(f"a3t.stages.{stage}") + 1 :]
    assert sorted(commands) == ["evaluate", "explore", "rollout"], proc.stdout[-3000:]
    return commands


def _play(stage: str, args: list[str], shards: int, out: Path) -> list[str]:
    """Every shard of ``shards`` played in this process (as the rule's command would), into folders under ``out``."""
    from a3t.io import run_cli
    from a3t.stages import evaluate, explore, rollout

    outputs = []
    for i in range(1, shards + 1):
        argv = list(args)
        argv[argv.index("--shard") + 1] = f"{i}of{shards}"
        shard_out = out / stage / f"{i}of{shards}"
        argv[argv.index("--out") + 1] = str(shard_out / "trajectories.jsonl" if stage == "explore" else shard_out)
        run_cli({"evaluate": evaluate, "explore": explore, "rollout": rollout}[stage].main, argv)
        outputs.append(argv[argv.index("--out") + 1])
    return outputs


@pytest.mark.parametrize("shards", [3])  # one of them plays nothing
def test_gathered_results_do_not_depend_on_the_shard_count(tiny_run, tmp_path, monkeypatch, shards):
    """The tiny run gathered 1 shard of each stage; 3 shards give the same bytes (3 > the train tasks: a
    shard plays nothing)."""
    from a3t.io import run_cli
    from a3t.stages.gather import main as gather

    commands = _shard_commands(tiny_run)
    monkeypatch.chdir(tiny_run)  # the rules' paths are relative to the workflow's folder
    for stage, _, compared in STAGES:
        outputs = _play(stage, commands[stage], shards, tmp_path)
        out = tmp_path / "gathered" / compared[0].split("/")[1]
        if stage == "explore":
            run_cli(gather, ["explore", "--shards", *outputs, "--out", str(out / "trajectories.jsonl")])
        else:
            summary = ["--summary", str(out.parent / "eval.json")] if stage == "evaluate" else []
            round_ = "1" if stage == "rollout" else "0"
            run_cli(gather, ["episodes", "--shards", *outputs, "--out", str(out), "--round", round_, *summary])
        for rel in compared:
            mine = tmp_path / "gathered" / Path(rel).relative_to(Path(rel).parts[0])
            assert mine.read_bytes() == (tiny_run / "results" / rel).read_bytes(), (shards, rel)
