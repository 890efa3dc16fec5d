"""Stage ``dataset``: the contrastive dataset of round k, all kept trajectories of rounds 0..k.

    python -m a3t.stages.dataset --add results/round1/filtered/trajectories.jsonl \
        --previous results/round0/dataset/trajectories.jsonl --out results/round1/dataset/trajectories.jsonl

Accumulates (previous dataset first, then the round's kept trajectories), removes duplicates (same
task, outcome and steps), and records per task type how many are successes (reward +1 in training)
and failures (the failure weight, negative). A round that found nothing new still gets a dataset.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from a3t.io import dumps, run_cli
from a3t.manifest import write_manifest
from a3t.trajectory import Trajectory, read_trajectories, write_trajectories


def accumulate(*parts: list[Trajectory]) -> list[Trajectory]:
    """Concatenate, keeping the first of every duplicate."""
    seen, out = set(), []
    for part in parts:
        for t in part:
            if t.key() not in seen:
                seen.add(t.key())
                out.append(t)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.dataset", description=__doc__.splitlines()[0])
    p.add_argument("--add", required=True, type=Path, nargs="+", help="this round's kept trajectories")
    p.add_argument("--previous", type=Path, help="the previous round's dataset")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    previous = list(read_trajectories(args.previous)) if args.previous else []
    added = [t for path in args.add for t in read_trajectories(path)]
    data = accumulate(previous, added)
    write_trajectories(args.out, data)
    pos = Counter(t.task_type for t in data if t.won)
    neg = Counter(t.task_type for t in data if not t.won)
    counts = {
        "size": len(data),
        "positives": sum(pos.values()),
        "negatives": sum(neg.values()),
        "new": len(data) - len(previous),
        "tasks_with_success": len({t.task_id for t in data if t.won}),
        "positives_per_type": dict(sorted(pos.items())),
        "negatives_per_type": dict(sorted(neg.items())),
    }
    if counts["new"] == 0:
        print("no new trajectory this round: the dataset is the previous one")
    inputs = args.add + ([args.previous] if args.previous else [])
    write_manifest(args.out.parent, "dataset", {}, inputs=inputs, **counts)
    print(dumps(counts))


if __name__ == "__main__":
    run_cli(main)
