"""Shards: a stage's tasks split across jobs, and rules ``gather_*``, which join what the jobs wrote.

    python -m a3t.stages.gather episodes --shards results/round1/shards/eval/1of2 results/round1/shards/eval/2of2 \
        --out results/round1/eval --summary results/round1/eval.json --previous results/round0/eval.json --round 1
    python -m a3t.stages.gather explore --shards results/round1/shards/explore/*/trajectories.jsonl \
        --out results/round1/explore/trajectories.jsonl

Shard ``i`` of ``n`` (``"{i}of{n}"``, 1-based) takes every n-th task, by sorted task id, from the i-th on.
Every episode is seeded by its own identity (seed, task, sample), so what it plays does not depend on the
shard or batch that played it; the gathered trajectories are sorted by (task, sample): the same bytes for
any number of shards. ``episodes`` joins evaluation or rollout shards (one ``<split>.jsonl`` per split) and
writes the summary (``eval.json``: success overall and per task type, and the accumulated success with
``--previous``); ``explore`` joins exploration shards.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from a3t.io import A3TError, atomic_dir, atomic_write_json, read_json, run_cli
from a3t.manifest import MANIFEST, write_manifest
from a3t.stats import wilson_interval
from a3t.trajectory import Trajectory, read_trajectories, write_trajectories

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2of3"`` -> (2, 3)."""
    m = re.fullmatch(r"(\d+)of(\d+)", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise A3TError(f"--shard expects IofN with 1 <= I <= N (e.g. 2of3), got {text!r}")
    return int(m[1]), int(m[2])


def shard_of(items: Sequence[T], shard: str, task_id: Callable[[T], str] = str) -> list[T]:
    """The items of ``shard`` (``"IofN"``): every N-th by sorted task id, from the I-th on."""
    i, n = parse_shard(shard)
    return sorted(items, key=task_id)[i - 1 :: n]


def _stats(trajs: list[Trajectory]) -> dict:
    won = sum(t.won for t in trajs)
    return {
        "n": len(trajs),
        "won": won,
        "success": round(won / len(trajs), 4) if trajs else 0.0,
        "ci95": list(wilson_interval(won, len(trajs))),
        "mean_steps": round(sum(len(t.steps) for t in trajs) / len(trajs), 2) if trajs else 0.0,
    }


def summarize(trajs: list[Trajectory]) -> dict:
    """Success overall and per task type, from the trajectories themselves."""
    by_type: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        by_type[t.task_type].append(t)
    return {**_stats(trajs), "per_type": {k: _stats(v) for k, v in sorted(by_type.items())}}


def accumulated(trajs: list[Trajectory], previous: dict | None) -> dict:
    """Success counting a task as solved if this round or any earlier one (``previous``, a split's summary) solved it."""
    solved = {t.task_id for t in trajs if t.won} | set((previous or {}).get("accumulated", {}).get("solved", []))
    solved &= {t.task_id for t in trajs}
    n = len(trajs)
    return {"success": round(len(solved) / n, 4) if n else 0.0, "won": len(solved), "solved": sorted(solved)}


def episode_order(trajs: list[Trajectory]) -> list[Trajectory]:
    """Trajectories in the order every shard count gives: by task, then sample."""
    return sorted(trajs, key=lambda t: (t.task_id, t.sample))


def evaluation(trajs_by_split: dict[str, list[Trajectory]], round: int, previous: dict) -> dict:
    """eval.json: each split's summary and accumulated success. A split the round before had (or carried) and
    this round does not play (eval.alfworld_rounds) is ``carried``: its accumulated solved tasks, for the next
    round that plays it."""
    earlier = previous.get("carried", {}) | previous["splits"]
    result = {"round": round, "splits": {}}
    for name, trajs in trajs_by_split.items():
        result["splits"][name] = summarize(trajs) | {"accumulated": accumulated(trajs, earlier.get(name))}
    carried = {name: {"accumulated": s["accumulated"]} for name, s in earlier.items() if name not in trajs_by_split}
    if carried:
        result["carried"] = carried
    return result


def gather_episodes(shards: list[Path], out: Path, round: int, previous: Path | None, summary: Path | None) -> dict:
    by_split: dict[str, list[Trajectory]] = defaultdict(list)
    inputs = []
    for shard in shards:
        if not (shard / MANIFEST).is_file():
            raise A3TError(f"{shard}: not a finished shard (no {MANIFEST})")
        for path in sorted(shard.glob("*.jsonl")):
            by_split[path.stem] += read_trajectories(path)
            inputs.append(path)
    trajs_by_split = {name: episode_order(trajs) for name, trajs in sorted(by_split.items())}
    result = evaluation(trajs_by_split, round, read_json(previous) if previous else {"splits": {}})
    with atomic_dir(out) as tmp:
        for name, trajs in trajs_by_split.items():
            write_trajectories(tmp / f"{name}.jsonl", trajs)
        atomic_write_json(tmp / "eval.json", result)
        config = {"shards": len(shards), "round": round, "previous": str(previous) if previous else None}
        write_manifest(tmp, "gather", config, inputs=inputs, **{n: r["success"] for n, r in result["splits"].items()})
    if summary:
        atomic_write_json(summary, result)
    return result


def exploration_counts(trajs: list[Trajectory], failed_tasks: int) -> dict:
    """An exploration's manifest counts: failed tasks explored, episodes, successes (per type), tasks solved."""
    won = Counter(t.task_type for t in trajs if t.won)
    return {
        "failed_tasks": failed_tasks,
        "episodes": len(trajs),
        "successes": sum(won.values()),
        "tasks_solved": len({t.task_id for t in trajs if t.won}),
        "successes_per_type": dict(sorted(won.items())),
    }


def gather_explore(shards: list[Path], out: Path) -> dict:
    trajs, failed = [], 0
    for shard in shards:
        manifest = shard.parent / MANIFEST
        if not manifest.is_file():
            raise A3TError(f"{shard}: not a finished shard (no {manifest})")
        failed += read_json(manifest)["counts"]["failed_tasks"]
        trajs += read_trajectories(shard)
    trajs = episode_order(trajs)
    write_trajectories(out, trajs)
    counts = exploration_counts(trajs, failed)
    write_manifest(out.parent, "gather", {"shards": len(shards)}, inputs=shards, **counts)
    return counts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.gather", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="kind", required=True)
    episodes = sub.add_parser("episodes", help="evaluation or rollout shards: <split>.jsonl each, and eval.json")
    episodes.add_argument("--shards", required=True, nargs="+", type=Path, help="the shards' folders")
    episodes.add_argument("--out", required=True, type=Path, help="folder of the gathered <split>.jsonl and eval.json")
    episodes.add_argument("--summary", type=Path, help="also write eval.json here")
    episodes.add_argument("--previous", type=Path, help="the previous round's eval.json (for the accumulated success)")
    episodes.add_argument("--round", type=int, default=0)
    explore = sub.add_parser("explore", help="exploration shards: one trajectories JSONL each")
    explore.add_argument("--shards", required=True, nargs="+", type=Path, help="the shards' trajectories.jsonl")
    explore.add_argument("--out", required=True, type=Path, help="the gathered trajectories.jsonl")
    args = p.parse_args(argv)
    if args.kind == "episodes":
        result = gather_episodes(args.shards, args.out, args.round, args.previous, args.summary)
        print({n: r["success"] for n, r in result["splits"].items()})
    else:
        print(gather_explore(args.shards, args.out))


if __name__ == "__main__":
    run_cli(main)
