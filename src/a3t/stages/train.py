"""Stage ``train``: QLoRA on trajectories with binarized rewards (SFT when every reward is +1).

    python -m a3t.stages.train --base results/base_model --data results/round0/teacher/trajectories.jsonl \
        --out results/round0/adapter

Loss (A3T's policy gradient with binarized rewards): ``-mean_tau s(tau) * nll_tau``, where ``nll_tau``
is the mean negative log-likelihood of the trajectory's agent tokens (``--include-observations``
adds the observation tokens, as the paper does) and ``s`` is +1 for successes and the failure weight
(negative) for failures. A failure's NLL is capped at ``--neg-nll-cap``: once a failed trajectory is
that unlikely, its gradient stops, so pushing failures down cannot run away.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from a3t import hardware
from a3t.agents.actre import encode_actre, has_reasons
from a3t.agents.modeling import add_lora, load_base, load_tokenizer
from a3t.agents.prompts import fit_messages, trajectory_messages
from a3t.io import A3TError, atomic_dir, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, parse_stage_args
from a3t.trajectory import Trajectory, read_trajectories


def encode(traj: Trajectory, tok, max_len: int, include_observations: bool = False) -> dict:
    """Token ids and labels (-100 where no loss) for one trajectory, oldest steps dropped to fit ``max_len``."""
    msgs = trajectory_messages(traj)
    msgs = fit_messages(msgs, tok, max_len - 2)
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids = list(enc["input_ids"])[:max_len]
    mask = list(enc["assistant_masks"])[:max_len]
    if include_observations:  # every token after the opening observation
        first = mask.index(1) if 1 in mask else len(mask)
        mask = [0] * first + [1] * (len(mask) - first)
    labels = [i if m else -100 for i, m in zip(ids, mask, strict=True)]
    return {"input_ids": ids, "labels": labels}


class TrajectoryData(torch.utils.data.Dataset):
    """The policy examples (ReAct view, weighted by reward) and, with ``actre``, the ActRe view of the successes."""

    def __init__(
        self, trajs: list[Trajectory], weights: list[float], tok, max_len: int, include_observations: bool, actre: bool = False
    ):
        self.items = [{**encode(t, tok, max_len, include_observations), "weight": w} for t, w in zip(trajs, weights, strict=True)]
        self.actre_items = 0
        if actre:
            extra = [{**encode_actre(t, tok, max_len), "weight": 1.0} for t in trajs if t.won and has_reasons(t)]
            self.items += extra
            self.actre_items = len(extra)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def collate(pad_id: int):
    def fn(batch: list[dict]) -> dict:
        n = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), n), pad_id)
        labels = torch.full((len(batch), n), -100)
        attn = torch.zeros((len(batch), n), dtype=torch.long)
        for k, b in enumerate(batch):
            ids[k, : len(b["input_ids"])] = torch.tensor(b["input_ids"])
            labels[k, : len(b["labels"])] = torch.tensor(b["labels"])
            attn[k, : len(b["input_ids"])] = 1
        return {
            "input_ids": ids,
            "attention_mask": attn,
            "labels": labels,
            "weight": torch.tensor([float(b["weight"]) for b in batch]),
        }

    return fn


def sequence_nll(model, inputs: dict, labels: torch.Tensor) -> torch.Tensor:
    """Mean NLL per sequence over its labelled tokens, (B,), for ``inputs`` (input_ids, attention_mask) and labels
    (B, T). Only the positions whose next token is labelled go through the vocabulary projection: a third of the
    tokens when observations are not trained on. The same loss as full logits, for a fraction of the output
    layer's time and of its memory (SmolLM2's 49k-token vocabulary)."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal.get_decoder()(**inputs, use_cache=False).last_hidden_state
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    logits = causal.get_output_embeddings()(hidden[keep])
    tok_nll = F.cross_entropy(logits.float(), labels[:, 1:][keep[:, :-1]], reduction="none")
    total = torch.zeros(len(labels), dtype=tok_nll.dtype, device=tok_nll.device).index_add(0, keep.nonzero()[:, 0], tok_nll)
    return total / keep.sum(1).clamp(min=1)


def reward_weighted_loss(nll: torch.Tensor, weight: torch.Tensor, neg_nll_cap: float) -> torch.Tensor:
    """``mean(s * nll)`` of the sequences' NLLs, a failure's NLL capped at ``neg_nll_cap`` (no gradient past it)."""
    capped = torch.where(weight < 0, nll.clamp(max=neg_nll_cap), nll)
    return (weight * capped).mean()


class RewardWeightedTrainer(Trainer):
    """``Trainer`` whose loss weights each trajectory's NLL by its binarized reward."""

    def __init__(self, *args, neg_nll_cap: float = 5.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.neg_nll_cap = neg_nll_cap

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weight, labels = inputs.pop("weight"), inputs.pop("labels")
        nll = sequence_nll(model, inputs, labels)
        loss = reward_weighted_loss(nll, weight, self.neg_nll_cap)
        return (loss, {"nll": nll}) if return_outputs else loss


def load_data(paths: list[Path], fail_weight: float, success_weight: float = 1.0) -> tuple[list[Trajectory], list[float]]:
    trajs = [t for p in paths for t in read_trajectories(p)]
    if not trajs:
        raise A3TError(f"empty training set: no trajectory in {[str(p) for p in paths]}")
    return trajs, [success_weight if t.won else fail_weight for t in trajs]


def save_adapter(model, out: Path) -> None:
    """``save_pretrained``, with adapter_config.json's ``target_modules`` sorted: peft writes them from a set, in
    an order that Python's string hashing changes from process to process (two runs, two files)."""
    model.save_pretrained(out)
    path = out / "adapter_config.json"
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.train", description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="base model: a local path or a hub id")
    p.add_argument("--gguf-file", default="")
    p.add_argument("--data", required=True, nargs="+", type=Path, help="trajectories JSONL (won -> +1, failed -> fail weight)")
    p.add_argument("--out", required=True, type=Path, help="adapter directory")
    add_setting(p, "train.epochs")
    add_setting(p, "train.max_steps", default=0, help="this many optimizer steps, overriding --epochs (0: epochs)")
    add_setting(p, "train.lr")
    add_setting(p, "train.batch_size")
    add_setting(p, "train.grad_accum")
    add_setting(p, "train.optim")
    add_setting(p, "train.max_len")
    add_setting(p, "qlora.r", "--lora-r", dest="lora_r")
    add_setting(p, "qlora.alpha", "--lora-alpha", dest="lora_alpha")
    add_setting(p, "qlora.dropout", "--lora-dropout", dest="lora_dropout")
    add_setting(p, "qlora.target_modules")
    add_setting(p, "model.compute_dtype")
    add_setting(p, "model.quantize")
    add_setting(p, "train.fail_weight")
    add_setting(p, "train.neg_nll_cap")
    add_setting(p, "train.include_observations")
    p.add_argument("--actre", action="store_true", help="also train ActRe (action -> reason) on the successes")
    p.add_argument("--init-adapter", default="", help="continue this saved adapter instead of a fresh one (a warm start)")
    add_setting(p, "seed")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parse_stage_args(p, argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    compute = hardware.resolve_arg(args)
    trajs, weights = load_data(args.data, args.fail_weight)
    tok = load_tokenizer(args.base, args.gguf_file)
    data = TrajectoryData(trajs, weights, tok, args.max_len, args.include_observations, args.actre)
    model = load_base(args.base, quantize=args.quantize, compute_dtype=args.compute_dtype, gguf_file=args.gguf_file)
    model = add_lora(
        model,
        args.lora_r,
        args.lora_alpha,
        args.lora_dropout,
        args.target_modules,
        args.quantize,
        args.init_adapter,
    )
    with atomic_dir(args.out) as tmp:
        targs = TrainingArguments(
            output_dir=str(tmp / "trainer"),
            per_device_train_batch_size=args.batch_size,
            gradient_accumulation_steps=args.grad_accum,
            num_train_epochs=args.epochs,
            max_steps=args.max_steps or -1,  # transformers: > 0 overrides the epochs
            learning_rate=args.lr,
            optim=args.optim,
            lr_scheduler_type="cosine",
            logging_steps=5,
            save_strategy="no",
            report_to=[],
            seed=args.seed,
            data_seed=args.seed,
            use_cpu=not torch.cuda.is_available(),
            remove_unused_columns=False,
            train_sampling_strategy="group_by_length",  # batches of like lengths: little padding
            dataloader_num_workers=0,
            bf16=args.compute_dtype == "bfloat16" and torch.cuda.is_available(),
        )
        trainer = RewardWeightedTrainer(
            model=model, args=targs, train_dataset=data, data_collator=collate(tok.pad_token_id), neg_nll_cap=args.neg_nll_cap
        )
        result = trainer.train()
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        save_adapter(model, tmp)
        (tmp / "train_log.json").write_text(json.dumps(trainer.state.log_history, indent=1))
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "data"}
        write_manifest(
            tmp,
            "train",
            config,
            inputs=args.data,
            compute=compute,
            trajectories=len(trajs),
            positives=sum(w > 0 for w in weights),
            negatives=sum(w < 0 for w in weights),
            actre_examples=data.actre_items,
            tokens=sum(len(x["input_ids"]) for x in data.items),
            first_loss=losses[0] if losses else None,
            final_loss=losses[-1] if losses else None,
        )
    print(
        json.dumps(
            {
                "trajectories": len(trajs),
                "final_loss": losses[-1] if losses else None,
                "train_seconds": round(result.metrics["train_runtime"], 1),
            }
        )
    )


if __name__ == "__main__":
    run_cli(main)
