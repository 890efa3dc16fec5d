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
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast, Trainer

from a3t.agents.lm_training import corpus_blocks, corpus_texts, train_and_save, training_args
from a3t.agents.prompts import CHAT_TEMPLATE, SPECIAL_TOKENS
from a3t.io import A3TError, atomic_dir, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, parse_stage_args
from a3t.trajectory import read_trajectories


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.base_model", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, type=Path, help="trajectories JSONL to pre-train on")
    p.add_argument("--out", required=True, type=Path)
    for key in ("vocab_size", "hidden", "layers", "heads", "kv_heads", "intermediate", "max_len", "block", "epochs", "lr",
                "batch_size"):  # fmt: skip
        add_setting(p, f"pretrain.{key}")
    add_setting(p, "seed")
    p.add_argument("--threads", type=int, default=2)
    args = parse_stage_args(p, argv)
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
