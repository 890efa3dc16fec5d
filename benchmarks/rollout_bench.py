"""Rollout benchmark: the agent playing N games batched with prefix-cache reuse vs one episode at a time.

    python benchmarks/rollout_bench.py [--base results/base_model] [--adapter results/round0/adapter]
        [--games results/games/valid_unseen/manifest.csv] [--n 16] [--slots 16] [--step-limit 50]

Same games, same model, greedy: the script checks that both ways play the same actions. Modes:
``alone`` (batch 1, no cache: what a one-prompt-at-a-time agent does), ``batched`` (all live episodes
in one generate, every step re-prefills the history) and ``batched+cache`` (the pipeline's way).
The last line is the speedup in env-steps/s of batched+cache over alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from a3t.agents.episodes import Job, run_episodes
from a3t.agents.llm import LLMPlayer
from a3t.agents.modeling import load_agent
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split


def play(model, tok, games, slots: int, reuse: bool, step_limit: int, workers: int) -> tuple[float, int, list]:
    player = LLMPlayer(model, tok, max_len=1536, max_new_tokens=48, reuse_cache=reuse)
    with BatchEnv(workers=workers, step_limit=step_limit) as env:
        env.reset({i: (g.game_file, g.goal) for i, g in enumerate(games[:slots])})  # games loaded: time the play only
        start = time.perf_counter()
        trajs = run_episodes([Job(g) for g in games], player, env, slots, seed=0, origin="bench", desc="bench")
        seconds = time.perf_counter() - start
    return seconds, sum(len(t.steps) for t in trajs), [[s.action for s in t.steps] for t in trajs]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="results/base_model")
    p.add_argument("--adapter", default="results/round0/adapter")
    p.add_argument("--games", default="results/games/valid_unseen/manifest.csv")
    p.add_argument("--n", type=int, default=16, help="games played")
    p.add_argument("--slots", type=int, default=16, help="episodes generated together (eval.batch_size)")
    p.add_argument("--step-limit", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    missing = [x for x in (args.base, args.adapter, args.games) if x and not Path(x).exists()]
    if missing:
        sys.exit(f"missing {missing}: build them first, e.g. `make run TARGET=results/round0/eval.json`")
    torch.set_num_threads(args.threads)
    model, tok = load_agent(args.base, args.adapter or None, merge=True)
    games = load_split(Path(args.games))[: args.n]
    runs = {}
    for name, slots, reuse in (("alone", 1, False), ("batched", args.slots, False), ("batched+cache", args.slots, True)):
        seconds, steps, actions = play(model, tok, games, slots, reuse, args.step_limit, args.workers)
        runs[name] = (steps / seconds, actions)
        print(f"{name:14s} {steps} env-steps in {seconds:6.1f} s: {steps / seconds:6.2f} steps/s", flush=True)
    same = all(r[1] == runs["alone"][1] for r in runs.values())
    print(f"greedy actions identical in all modes: {same}")
    print(f"batched vs alone: {runs['batched'][0] / runs['alone'][0]:.2f}x")
    print(f"batched+cache vs alone: {runs['batched+cache'][0] / runs['alone'][0]:.2f}x")


if __name__ == "__main__":
    main()
