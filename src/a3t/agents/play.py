"""An agent plays each game of some splits once: the evaluate and rollout stages' shared body (their CLI, the
episodes, eval.json and the manifest)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from a3t import hardware
from a3t.agents.episodes import Job, run_episodes
from a3t.agents.player_args import add_agent_args, agent_from_args
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split
from a3t.io import A3TError, atomic_dir, atomic_write_json, read_json
from a3t.manifest import write_manifest
from a3t.outcomes import evaluation
from a3t.settings import parse_stage_args
from a3t.shards import shard_of
from a3t.trajectory import write_trajectories


def parse_games(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        split, sep, path = item.partition("=")
        if not sep or not split or not path:
            raise A3TError(f"--games expects SPLIT=MANIFEST, got {item!r}")
        out[split] = Path(path)
    return out


def play(argv: list[str] | None, origin: str, prog: str, doc: str) -> None:
    """Play each game of the ``--games`` splits once with the agent; ``origin`` is recorded in the trajectories."""
    p = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    add_agent_args(p, adapter_help="LoRA adapter directory (none: the base alone)")
    p.add_argument("--games", required=True, nargs="+", help="SPLIT=path/to/manifest.csv")
    p.add_argument("--out", required=True, type=Path, help="directory for the trajectories, eval.json and manifest")
    p.add_argument("--summary", type=Path, help="also write eval.json here")
    p.add_argument("--round", type=int, default=0)
    p.add_argument("--previous", type=Path, help="the previous round's eval.json (for the accumulated success)")
    p.add_argument("--shard", default="1of1", help="IofN: play the I-th of N shards of each split (by sorted task id)")
    args = parse_stage_args(p, argv)
    if args.step_limit < 1:
        raise A3TError(f"--step-limit must be >= 1, got {args.step_limit}")
    torch.set_num_threads(args.threads)
    games = parse_games(args.games)
    splits = {name: shard_of(load_split(path), args.shard, lambda g: g.task_id) for name, path in games.items()}
    previous = read_json(args.previous) if args.previous else {"splits": {}}
    compute = hardware.resolve_arg(args)
    player = agent_from_args(args)
    start = time.perf_counter()
    with atomic_dir(args.out) as tmp, BatchEnv(workers=args.workers, step_limit=args.step_limit) as env:
        jobs = [(name, Job(g)) for name, games in splits.items() for g in games]  # one batch over all splits
        trajs = run_episodes(
            [j for _, j in jobs], player, env, args.batch_size, args.seed, origin=origin, round=args.round, desc=origin
        )
        by_split = {name: [t for (split, _), t in zip(jobs, trajs, strict=True) if split == name] for name in splits}
        for name, mine in by_split.items():
            for t in mine:
                t.split = name
            write_trajectories(tmp / f"{name}.jsonl", mine)
        result = evaluation(by_split, args.round, previous)
        atomic_write_json(tmp / "eval.json", result)
        config = {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "workers", "threads")
        }
        write_manifest(
            tmp,
            "evaluate" if origin == "eval" else origin,
            config,
            inputs=list(games.values()),
            compute=compute,
            engine=player.engine_line,
            **{name: r["success"] for name, r in result["splits"].items()},
        )
    if args.summary:
        atomic_write_json(args.summary, result)
    seconds = time.perf_counter() - start
    print(
        json.dumps({n: r["success"] for n, r in result["splits"].items()}),
        f"generated {player.generated_tokens} tokens in {seconds:.0f} s ({player.generated_tokens / seconds:.0f} tok/s)",
    )
