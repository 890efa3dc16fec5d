"""Stage ``demos``: scripted players on a split of games -> trajectories JSONL.

    python -m a3t.stages.demos --games results/games/train/manifest.csv --players teacher --astray 0.2 \
        --keep won --out results/round0/teacher/trajectories.jsonl

Players: ``teacher`` (ReAct teacher that searches, see :mod:`a3t.agents.teacher`), ``prompted`` (the paper's
teacher: an LLM behind an OpenAI-compatible endpoint, prompted 1-shot, see :mod:`a3t.agents.prompted`), ``walkthrough`` (the
game's expert plan, no thoughts) and ``random`` (random admissible actions). Used for the round-0
demonstrations (teacher, failures dropped) and for the base model's pretraining corpus.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from a3t.agents.endpoint import Endpoint, add_endpoint_args, endpoint_from_args
from a3t.agents.episodes import Job, ScriptPlayer, run_episodes
from a3t.agents.prompted import PromptedTeacher
from a3t.agents.teacher import teacher
from a3t.envs.batch import BatchEnv
from a3t.envs.games import Game, load_split
from a3t.io import A3TError, dumps, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, parse_stage_args
from a3t.trajectory import Trajectory, write_trajectories

PLAYERS = ("teacher", "prompted", "walkthrough", "random")


def _walkthrough(game: Game, first: str, rng: random.Random):
    for command in game.walkthrough():  # noqa: UP028 - a plain loop: send() must reach this generator, not a list
        yield command


class RandomPlayer:
    """Random admissible actions for ``steps`` steps (world knowledge for pretraining, no task skill)."""

    def __init__(self, steps: int):
        self.steps = steps
        self._rng: dict[int, random.Random] = {}

    def start(self, slot, game, traj, rng):
        self._rng[slot] = rng

    def act(self, trajs, admissible):
        return {
            s: ((self._rng[s].choice(admissible[s]) if len(t.steps) < self.steps else None), "sampled") for s, t in trajs.items()
        }


def make_player(
    name: str, astray: float, random_steps: int, endpoint: Endpoint | None = None
) -> ScriptPlayer | RandomPlayer | PromptedTeacher:
    if name == "prompted":
        if endpoint is None:
            raise A3TError("player 'prompted' needs an endpoint: --endpoint-url and --endpoint-model")
        return PromptedTeacher(endpoint)
    if name == "teacher":
        return ScriptPlayer(lambda g, first, rng: teacher(g.task_type, g.goal, first), "teacher", astray)
    if name == "walkthrough":
        return ScriptPlayer(_walkthrough, "expert")
    if name == "random":
        return RandomPlayer(random_steps)
    raise A3TError(f"unknown player {name!r}; valid players: {', '.join(PLAYERS)}")


def play(
    games: list[Game],
    players: list[str],
    seed: int,
    astray: float = 0.0,
    step_limit: int = 50,
    workers: int = 2,
    slots: int = 8,
    random_steps: int = 15,
    split: str = "train",
    endpoint: Endpoint | None = None,
) -> list[Trajectory]:
    out: list[Trajectory] = []
    with BatchEnv(workers=workers, step_limit=step_limit) as env:
        for k, name in enumerate(players):
            player = make_player(name, astray, random_steps, endpoint)
            jobs = [Job(g, sample=k) for g in games]
            origin = {"walkthrough": "expert", "prompted": "teacher"}.get(name, name)
            out += run_episodes(jobs, player, env, slots, seed, origin=origin, split=split, desc=f"demos/{name}")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.demos", description=__doc__.splitlines()[0])
    p.add_argument("--games", required=True, type=Path, help="a split's manifest.csv")
    p.add_argument("--out", required=True, type=Path, help="trajectories JSONL")
    p.add_argument("--players", default="teacher", help=f"comma-separated, from {PLAYERS}")
    p.add_argument("--keep", choices=("won", "all"), default="won", help="drop failed episodes (the paper drops them)")
    add_setting(p, "teacher.astray")
    add_setting(p, "seed")
    add_setting(p, "env.step_limit")
    add_setting(p, "pretrain.random_steps")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--split", default="train")
    add_endpoint_args(p)
    args = parse_stage_args(p, argv)
    if not 0.0 <= args.astray <= 1.0:
        raise A3TError(f"--astray must be in [0, 1], got {args.astray}")
    if args.step_limit < 1:
        raise A3TError(f"--step-limit must be >= 1, got {args.step_limit}")
    players = [x for x in args.players.split(",") if x]
    endpoint = endpoint_from_args(args) if "prompted" in players else None
    for name in players:
        make_player(name, 0.0, 1, endpoint)
    trajs = play(
        load_split(args.games),
        players,
        args.seed,
        args.astray,
        args.step_limit,
        args.workers,
        args.slots,
        args.random_steps,
        args.split,
        endpoint,
    )
    kept = [t for t in trajs if t.won or args.keep == "all"]
    write_trajectories(args.out, kept)
    by_type = Counter(t.task_type for t in trajs)
    won = Counter(t.task_type for t in trajs if t.won)
    counts = {"episodes": dict(sorted(by_type.items())), "won": dict(sorted(won.items())), "kept": len(kept)}
    if endpoint is not None:
        counts["endpoint"] = endpoint.stats()
    skip = ("games", "out", "workers", "slots", "endpoint_key_env", "endpoint_cache")
    config = {k: v for k, v in vars(args).items() if k not in skip}
    write_manifest(args.out.parent, "demos", config, inputs=[args.games], **counts)
    print(dumps(counts))


if __name__ == "__main__":
    run_cli(main)
