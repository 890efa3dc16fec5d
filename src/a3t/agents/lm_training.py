"""Causal-LM training of the base the workflow builds (config/scratch.yaml): its pretraining text as token blocks,
the trainer's settings, and saving the result. Used by the base_model and dagger stages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import TrainOutput

from a3t.agents.prompts import trajectory_messages
from a3t.io import A3TError
from a3t.trajectory import Trajectory


def corpus_texts(trajs: list[Trajectory], tokenizer=None) -> list[str]:
    """Each trajectory as chat text (through the tokenizer's template once there is one)."""
    if tokenizer is None:
        return [m["content"] for t in trajs for m in trajectory_messages(t)]
    return [tokenizer.apply_chat_template(trajectory_messages(t), tokenize=False) for t in trajs]


def corpus_blocks(trajs: list[Trajectory], tokenizer, block: int) -> Blocks:
    """The trajectories as chat text, one token stream cut into ``block``-token training examples."""
    texts = corpus_texts(trajs, tokenizer)
    return Blocks([i for text in texts for i in tokenizer(text, add_special_tokens=False)["input_ids"]], block)


class Blocks(torch.utils.data.Dataset):
    """The corpus as one token stream cut into ``block`` sized training examples (no padding)."""

    def __init__(self, ids: list[int], block: int):
        n = len(ids) // block
        if n == 0:
            raise A3TError(f"pretraining corpus has {len(ids)} tokens, fewer than one block of {block}")
        self.data = torch.tensor(ids[: n * block]).view(n, block)
        self.tokens = len(ids)  # the whole stream, the tail that fills no block included

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, i):
        return {"input_ids": self.data[i], "labels": self.data[i]}


def training_args(out: Path, batch_size: int, epochs: float, lr: float, seed: int, **extra) -> TrainingArguments:
    """The base's trainer settings (cosine schedule, 5% warmup, on the CPU, no checkpoints), also DAgger's."""
    return TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=batch_size,
        num_train_epochs=epochs,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,
        weight_decay=0.01,
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=False,
        **extra,
    )


def train_and_save(trainer: Trainer, tokenizer, out: Path) -> tuple[TrainOutput, list[float]]:
    """Train, then save the model, its tokenizer and the log history in ``out``; the result and the losses logged."""
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    shutil.rmtree(out / "trainer", ignore_errors=True)
    trainer.model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "train_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return result, losses
