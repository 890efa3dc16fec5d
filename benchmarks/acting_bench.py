"""The agent's acting speed with llama.cpp against torch: the same adapter on the same games, in one run.

    python benchmarks/acting_bench.py [--base results/base_model] [--adapter results/round0/adapter] \\
        [--games results/games/valid_unseen/manifest.csv] [--n 16] [--engines torch,llamacpp] [--out bench.json]

Each engine plays the first ``--n`` games with the settings of config/default.yaml (actions decoded among the
admissible commands, two thoughts in a row at most, ``decode_chunk`` 12, greedy), as the evaluate stage plays
them: env-steps/s (the play alone, games loaded first), games won, and McNemar's exact p between the two
engines' outcomes, game by game. torch runs at the compute dtype ``--dtype`` (auto: a3t.hardware);
llama.cpp on the agent written as one GGUF of ``--weight-type`` (stage export_gguf, timed apart).
The last line is the ratio of env-steps/s, llama.cpp over torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the workflow's jobs run (rules/common.smk), before torch loads
import torch  # noqa: E402

from a3t import hardware  # noqa: E402
from a3t.agents.episodes import Job, run_episodes  # noqa: E402
from a3t.agents.llamacpp import LlamaCppPlayer  # noqa: E402
from a3t.agents.llm import LLMPlayer  # noqa: E402
from a3t.agents.modeling import load_agent, load_tokenizer  # noqa: E402
from a3t.envs.batch import BatchEnv  # noqa: E402
from a3t.envs.games import load_split  # noqa: E402
from a3t.outcomes import discordant  # noqa: E402
from a3t.stages.export_gguf import main as export_gguf  # noqa: E402
from a3t.stats import mcnemar_exact_p  # noqa: E402

SETTINGS = {"max_len": 1024, "max_new_tokens": 48, "actions": "admissible", "think_limit": 2, "decode_chunk": 12}


def play(player, games, slots: int, step_limit: int) -> tuple[float, list]:
    with BatchEnv(workers=2, step_limit=step_limit) as env:
        env.reset({i: (g.game_file, g.goal) for i, g in enumerate(games[:slots])})  # games loaded: time the play only
        start = time.perf_counter()
        trajs = run_episodes([Job(g) for g in games], player, env, slots, seed=0, origin="bench", desc="bench")
        return time.perf_counter() - start, trajs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="results/base_model", help="a converted base (rule convert_base's output)")
    p.add_argument("--adapter", default="results/round0/adapter", help="a round's adapter ('': the bare base)")
    p.add_argument("--games", default="results/games/valid_unseen/manifest.csv", help="a split's manifest.csv")
    p.add_argument("--n", type=int, default=16, help="games played by each engine")
    p.add_argument("--slots", type=int, default=16, help="episodes played together (eval.batch_size)")
    p.add_argument("--step-limit", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="auto", choices=hardware.DTYPES, help="torch's compute dtype")
    p.add_argument("--weight-type", default="F32", help="the GGUF's weight type (F32, F16, BF16)")
    p.add_argument("--engines", default="torch,llamacpp")
    p.add_argument("--out", default="", help="a JSON file for each engine's numbers and outcomes")
    args = p.parse_args()
    missing = [x for x in (args.base, args.adapter or ".", args.games) if not Path(x).exists()]
    if missing:
        sys.exit(f"missing {missing}: run round 0 first (make run, or the SmolLM2 config)")
    torch.set_num_threads(args.threads)
    games = load_split(Path(args.games))[: args.n]
    results = {}
    for engine in args.engines.split(","):
        if engine == "torch":
            dtype = hardware.resolve(args.dtype, measure=False).dtype
            model, tok = load_agent(args.base, args.adapter or None, quantize=False, compute_dtype=dtype, merge=True)
            player = LLMPlayer(model, tok, **SETTINGS)
            label = f"torch {dtype}"
        else:
            scratch = tempfile.mkdtemp(prefix="acting-bench-")
            start = time.perf_counter()
            export = ["--base", args.base, "--no-quantize", "--weight-type", args.weight_type, "--out", f"{scratch}/agent"]
            export_gguf(export + (["--adapter", args.adapter] if args.adapter else []))
            print(f"export_gguf: {time.perf_counter() - start:.0f} s", flush=True)
            tok = load_tokenizer(args.base)
            player = LlamaCppPlayer(
                Path(scratch) / "agent/agent.gguf", tok, **SETTINGS, threads=args.threads, sequences=2 * args.slots + 2
            )
            label = f"llama.cpp {args.weight_type}"
            print(f"llama.cpp ({player.engine.lib.__file__}): {player.engine.lib.llama_print_system_info().decode()}")
        seconds, trajs = play(player, games, args.slots, args.step_limit)
        steps = sum(len(t.steps) for t in trajs)
        won = [bool(t.won) for t in trajs]
        results[engine] = {"label": label, "seconds": round(seconds, 1), "env_steps": steps, "won": sum(won), "outcomes": won}
        print(
            f"{label:24s} {len(games)} games  {steps:5d} env-steps in {seconds:6.0f} s  {steps / seconds:6.2f} env-steps/s  "
            f"{sum(won):3d} won",
            flush=True,
        )
        del player
    if {"torch", "llamacpp"} <= results.keys():
        a, b = results["torch"], results["llamacpp"]
        gained, lost = discordant(dict(enumerate(b["outcomes"])), dict(enumerate(a["outcomes"])))  # the same games, in order
        rate = lambda r: r["env_steps"] / r["seconds"]  # noqa: E731
        results["mcnemar"] = {"llamacpp_only": gained, "torch_only": lost, "p": mcnemar_exact_p(gained, lost)}
        print(f"outcomes: llama.cpp alone won {gained}, torch alone {lost}: McNemar exact p = {results['mcnemar']['p']:.3f}")
        print(f"llama.cpp / torch env-steps/s: {rate(b) / rate(a):.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
