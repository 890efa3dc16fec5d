"""Stage ``base_model``: build the embedded default's base model from the pipeline's own text.

    python -m a3t.stages.base_model --corpus results/pretrain/trajectories.jsonl --out results/base_model

A byte-level BPE tokenizer trained with ``tokenizers`` on the corpus (chat template with generation
markers), a small ``MistralConfig`` causal LM, pre-trained on the corpus with the transformers
``Trainer`` (all tokens, packed blocks), saved with ``save_pretrained`` so that it loads like a hub
model: ``AutoModelForCausalLM.from_pretrained(out)``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast, Trainer, TrainingArguments
from transformers.trainer_utils import TrainOutput

from a3t.agents.prompts import CHAT_TEMPLATE, SPECIAL_TOKENS, trajectory_messages
from a3t.io import A3TError, atomic_dir, run_cli
from a3t.manifest import write_manifest
from a3t.trajectory import Trajectory, read_trajectories


def build_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|end|>",
        pad_token="<pad>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
    )


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


def build_model(tokenizer, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, max_len: int):
    if hidden % 64 or intermediate % 64:
        raise A3TError("hidden and intermediate sizes must be multiples of 64 (bitsandbytes' CPU 4-bit kernels)")
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_len,
        sliding_window=None,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return MistralForCausalLM(config)


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.base_model", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, type=Path, help="trajectories JSONL to pre-train on")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=768)
    p.add_argument("--max-len", type=int, default=2048)
    p.add_argument("--block", type=int, default=512)
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    trajs = list(read_trajectories(args.corpus))
    if not trajs:
        raise A3TError(f"{args.corpus}: empty pretraining corpus")
    tokenizer = build_tokenizer(corpus_texts(trajs), args.vocab_size)
    data = corpus_blocks(trajs, tokenizer, args.block)
    model = build_model(tokenizer, args.hidden, args.layers, args.heads, args.kv_heads, args.intermediate, args.max_len)
    with atomic_dir(args.out) as tmp:
        targs = training_args(tmp, args.batch_size, args.epochs, args.lr, args.seed)
        trainer = Trainer(model=model, args=targs, train_dataset=data)
        result, losses = train_and_save(trainer, tokenizer, tmp)
        n_params = sum(p.numel() for p in model.parameters())
        write_manifest(
            tmp,
            "base_model",
            {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            inputs=[args.corpus],
            params=n_params,
            tokens=data.tokens,
            blocks=len(data),
            first_loss=losses[0] if losses else math.nan,
            final_loss=losses[-1] if losses else math.nan,
        )
    print(
        json.dumps(
            {
                "params": n_params,
                "tokens": data.tokens,
                "final_loss": losses[-1] if losses else None,
                "train_seconds": round(result.metrics["train_runtime"], 1),
            }
        )
    )


if __name__ == "__main__":
    run_cli(main)
