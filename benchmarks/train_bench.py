"""Training benchmark: our reward-weighted QLoRA trainer vs a plain transformers Trainer, same data and model.

    python benchmarks/train_bench.py [--base results/base_model] [--data results/round0/dataset/trajectories.jsonl]

Both train the same LoRA on the NF4 base for ``--steps`` steps of ``--batch-size`` trajectories.
Ours: the binarized-reward loss, batches grouped by length. Plain: ``Trainer`` with its own LM loss,
random batches. Tokens/s counts the real (unpadded) tokens. The last line is ours / plain.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments

from a3t.agents.modeling import add_lora, load_base, load_tokenizer
from a3t.stages.train import RewardWeightedTrainer, TrajectoryData, collate, load_data


def tokens_per_second(trainer_cls, base: str, data, tok, steps: int, batch_size: int, grouped: bool, **kw) -> float:
    torch.manual_seed(0)
    model = add_lora(load_base(base), 16, 32, 0.05, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=1e-3, save_strategy="no",
            report_to=[], use_cpu=not torch.cuda.is_available(), remove_unused_columns=False, disable_tqdm=True,
            train_sampling_strategy="group_by_length" if grouped else "random", seed=0,
        )  # fmt: skip
        trainer = trainer_cls(model=model, args=args, train_dataset=data, data_collator=collate(tok.pad_token_id), **kw)
        batches = len(trainer.get_train_dataloader())
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    per_batch = sum(len(x["input_ids"]) for x in data.items) / batches  # real tokens of an epoch over its batches
    return per_batch * steps / seconds


class PlainTrainer(Trainer):
    """transformers' own causal-LM loss (labels shifted inside the model); the reward weight is dropped."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs.pop("weight")
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="results/base_model")
    p.add_argument("--data", default="results/round0/dataset/trajectories.jsonl")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-len", type=int, default=1536)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    missing = [x for x in (args.base, args.data) if not Path(x).exists()]
    if missing:
        sys.exit(f"missing {missing}: build them first, e.g. `make run TARGET=results/round0/eval.json`")
    torch.set_num_threads(args.threads)
    tok = load_tokenizer(args.base)
    trajs, weights = load_data([Path(args.data)], -1.0)
    data = TrajectoryData(trajs, weights, tok, args.max_len, include_observations=False)
    plain = tokens_per_second(PlainTrainer, args.base, data, tok, args.steps, args.batch_size, grouped=False)
    print(f"plain Trainer (random batches):        {plain:8.0f} tok/s", flush=True)
    ours = tokens_per_second(
        RewardWeightedTrainer, args.base, data, tok, args.steps, args.batch_size, grouped=True, neg_nll_cap=1.0
    )
    print(f"ours (reward-weighted, length-grouped): {ours:8.0f} tok/s")
    print(f"ours vs plain Trainer: {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
