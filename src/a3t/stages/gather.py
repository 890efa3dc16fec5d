"""Rules ``gather_*``: what the shards of a stage wrote (a3t.shards), joined.

    python -m a3t.stages.gather episodes --shards results/round1/shards/eval/1of2 results/round1/shards/eval/2of2 \
        --out results/round1/eval --summary results/round1/eval.json --previous results/round0/eval.json --round 1
    python -m a3t.stages.gather explore --shards results/round1/shards/explore/*/trajectories.jsonl \
        --out results/round1/explore/trajectories.jsonl

The gathered trajectories are sorted by (task, sample): the same bytes for any number of shards. ``episodes``
joins evaluation or rollout shards (one ``<split>.jsonl`` per split) and writes the summary (``eval.json``:
success overall and per task type, and the accumulated success with ``--previous``); ``explore`` joins
exploration shards.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from a3t.io import A3TError, atomic_dir, atomic_write_json, read_json, run_cli
from a3t.manifest import MANIFEST, write_manifest
from a3t.outcomes import evaluation, exploration_counts
from a3t.shards import episode_order
from a3t.trajectory import Trajectory, read_trajectories, write_trajectories


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
