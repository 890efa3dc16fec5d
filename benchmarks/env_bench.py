"""Environment benchmark: load/reset/step times, N envs stepped in a batch vs one by one, pooled vs naive reset.

    python benchmarks/env_bench.py [--games DIR] [--n 8] [--workers 2]

Without ``--games`` it generates a small train split into a temporary folder first.
Naive: the game's env built and reset for an episode (the first reset of a game in a process: TextWorld
parses the game and translates its PDDL problem). Pooled: the same env reset again (the translation
cached per process, ``a3t.envs.memo``). The last line is the pooled/naive reset ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from a3t.envs import TASK_TYPES
from a3t.envs.batch import BatchEnv
from a3t.envs.env import GameEnv
from a3t.envs.games import load_split
from a3t.stages.games import generate_split


def _episodes(games, rounds: int):
    plans = [g.walkthrough() for g in games]
    return [(g, p) for _ in range(rounds) for g, p in zip(games, plans, strict=True)]


def one_by_one(episodes) -> float:
    """Every episode reset and played to the end before the next starts (one env per game, pooled)."""
    env = GameEnv()
    start = time.perf_counter()
    for game, plan in episodes:
        env.reset(game.game_file, game.goal)
        for command in plan:
            env.step(command)
    return time.perf_counter() - start


def batched(episodes, n: int, workers: int) -> float:
    """``n`` slots advanced together; a slot takes the next episode when its episode ends."""
    with BatchEnv(workers=workers) as batch:
        for game in {e[0].game_file: e[0] for e in episodes}.values():  # warm-up: each worker has seen each game once,
            batch.reset({w: (game.game_file, game.goal) for w in range(max(workers, 1))})  # as one_by_one's process has
        start = time.perf_counter()
        queue = list(range(len(episodes)))
        live: dict[int, tuple[int, int]] = {}  # slot -> (episode, next step)
        while queue or live:
            starting = {}
            for slot in range(n):
                if slot not in live and queue:
                    e = queue.pop(0)
                    live[slot] = (e, 0)
                    starting[slot] = (episodes[e][0].game_file, episodes[e][0].goal)
            if starting:
                batch.reset(starting)
            actions = {slot: episodes[e][1][t] for slot, (e, t) in live.items()}
            batch.step(actions)
            for slot, (e, t) in list(live.items()):
                live[slot] = (e, t + 1)
                if t + 1 >= len(episodes[e][1]):
                    del live[slot]
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", type=Path, help="a split folder with manifest.csv")
    p.add_argument("--n", type=int, default=8, help="batch slots")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="times each game is played")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        games_dir = args.games
        if games_dir is None:
            games_dir = Path(tmp) / "train"
            generate_split(games_dir, "train", {t: 2 for t in TASK_TYPES}, seed=123, unseen=[10, 219, 308, 424], workers=2)
        games = load_split(games_dir / "manifest.csv")

        env = GameEnv()
        loads, resets, steps = [], [], []
        for game in games:
            t = time.perf_counter()
            env.reset(game.game_file, game.goal)
            loads.append(time.perf_counter() - t)
            t = time.perf_counter()
            env.reset(game.game_file, game.goal)
            resets.append(time.perf_counter() - t)
            for command in game.walkthrough():
                t = time.perf_counter()
                env.step(command)
                steps.append(time.perf_counter() - t)
        print(f"games: {len(games)}")
        print(f"first reset (load + reset): mean {statistics.mean(loads):.2f} s, max {max(loads):.2f} s")
        print(f"pooled reset:               mean {statistics.mean(resets):.2f} s, max {max(resets):.2f} s")
        print(f"step:                       mean {1000 * statistics.mean(steps):.1f} ms")

        episodes = _episodes(games, args.rounds)
        n_steps = sum(len(p) for _, p in episodes)
        seq = one_by_one(episodes)
        bat = batched(episodes, args.n, args.workers)
        print(f"one by one: {len(episodes)} episodes, {n_steps} steps in {seq:.1f} s ({n_steps / seq:.1f} steps/s)")
        print(f"batched ({args.n} slots, {args.workers} workers): {bat:.1f} s ({n_steps / bat:.1f} steps/s)")
        print(f"speedup batched/one-by-one: {seq / bat:.2f}x")
        print(f"speedup pooled/naive reset: {statistics.mean(loads) / statistics.mean(resets):.2f}x")


if __name__ == "__main__":
    main()
