"""Stage ``filter``: keep what the round's trajectories can teach.

    python -m a3t.stages.filter --rollouts results/round1/rollouts/train.jsonl \
        --explore results/round1/explore/trajectories.jsonl --previous results/round0/dataset/trajectories.jsonl \
        --out results/round1/filtered/trajectories.jsonl

Kept: every successful trajectory (composed by exploration, or the agent's own rollout), and the
agent's own failed rollout of a task only if that task has at least ``--min-successes`` distinct
successes (this round's, or already in the accumulated dataset), so that every failure is contrasted
with successes of its task; the paper asks for K > 1 of them per failure, for stability.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from a3t.io import A3TError, dumps, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, parse_stage_args
from a3t.trajectory import Trajectory, read_trajectories, write_trajectories


def select(
    rollouts: list[Trajectory],
    explored: list[Trajectory],
    wins_before: Sequence[Trajectory] = (),
    keep_failures: bool = True,
    min_successes: int = 1,
) -> list[Trajectory]:
    """Successes, plus (``keep_failures``) the agent's own failures of tasks with ``min_successes`` distinct successes."""
    wins = [t for t in rollouts + explored if t.won]
    distinct = {t.key(): t.task_id for t in [*wins, *wins_before] if t.won}  # a duplicate counts once
    successes = Counter(distinct.values())
    failures = [t for t in rollouts if not t.won and successes[t.task_id] >= min_successes] if keep_failures else []
    return wins + failures


def _by_type(trajs: list[Trajectory], won: bool) -> dict[str, int]:
    return dict(sorted(Counter(t.task_type for t in trajs if t.won == won).items()))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.filter", description=__doc__.splitlines()[0])
    p.add_argument("--rollouts", required=True, type=Path, help="the agent's own trajectories on the training tasks")
    p.add_argument("--explore", required=True, type=Path, help="composed trajectories from exploration")
    p.add_argument("--previous", type=Path, help="the accumulated dataset so far (its successes count as solved)")
    add_setting(p, "filter.keep_failures")
    add_setting(p, "filter.min_successes")
    p.add_argument("--out", required=True, type=Path)
    args = parse_stage_args(p, argv)
    rollouts, explored = list(read_trajectories(args.rollouts)), list(read_trajectories(args.explore))
    if args.min_successes < 1:
        raise A3TError(f"--min-successes must be >= 1, got {args.min_successes}")
    before = list(read_trajectories(args.previous)) if args.previous else []  # select counts only its wins
    kept = select(rollouts, explored, before, keep_failures=args.keep_failures, min_successes=args.min_successes)
    write_trajectories(args.out, kept)
    counts = {
        "kept": len(kept),
        "successes_per_type": _by_type(kept, True),
        "failures_per_type": _by_type(kept, False),
        "explored_successes": sum(t.won for t in explored),
        "rollout_successes": sum(t.won for t in rollouts),
        "rollout_failures_dropped": sum(not t.won for t in rollouts) - sum(not t.won for t in kept),
    }
    inputs = [args.rollouts, args.explore] + ([args.previous] if args.previous else [])
    config = {"previous": bool(args.previous), "keep_failures": args.keep_failures, "min_successes": args.min_successes}
    write_manifest(args.out.parent, "filter", config, inputs=inputs, **counts)
    print(dumps(counts))


if __name__ == "__main__":
    run_cli(main)
