"""CUDA smoke check of the GPU code path (config/paper.yaml's choices), on a base model and trajectories built here.

    python benchmarks/cuda_smoke.py [--base results/base_model] [--data results/round0/dataset/trajectories.jsonl]

On a CUDA device it:
1. trains a round-0 QLoRA adapter with the train stage itself (``a3t.stages.train``): the NF4 base through
   bitsandbytes' CUDA kernels, bf16 compute, ``paged_adamw_32bit``, and the reward-weighted loss on the
   data's successes plus a few failures at -1 (successes cut short and marked failed);
2. generates greedy replies for a batch of recorded prompts (episodes of the data cut at two points, the
   second extending the first, so that the prefix cache is reused) from the NF4 base with the adapter
   attached, not merged;
3. generates them again on the CPU path (the adapter merged into the dequantized base, float32: what
   rollout and evaluate run on a CPU) and compares the actions;
4. prints train tokens/s, generated tokens/s, peak GPU memory and the agreement of the actions; the last
   line is one JSON object of these figures.

Without CUDA it says so in one line and exits 0. ``--device cpu`` runs the same steps with the CPU's
choices (float32, ``adamw_torch``) in place of the GPU's: the test of this script.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch


def training_data(data: Path, out: Path, failures: int) -> int:
    """The data's trajectories plus ``failures`` of its successes cut to half their steps and marked failed."""
    from a3t.trajectory import read_trajectories, write_trajectories

    trajs = list(read_trajectories(data))
    cut = [replace(t, steps=t.steps[: len(t.steps) // 2], won=False) for t in trajs if t.won][:failures]
    write_trajectories(out, trajs + cut)
    return len(cut)


def train(base: str, data: Path, out: Path, on_cuda: bool, max_len: int, steps: int, batch_size: int = 4) -> dict:
    """Round-0 training through ``a3t.stages.train``'s CLI for ``steps`` optimizer steps; its figures (tokens/s: the
    data's tokens per epoch times the epochs run, over the trainer's own runtime)."""
    from a3t.io import read_json
    from a3t.stages.train import main

    args = ["--base", base, "--data", str(data), "--out", str(out), "--max-steps", str(steps), "--max-len", str(max_len)]
    args += ["--batch-size", str(batch_size), "--optim", "paged_adamw_32bit" if on_cuda else "adamw_torch"]
    args += ["--compute-dtype", "bfloat16" if on_cuda else "float32", "--fail-weight", "-1", "--neg-nll-cap", "1"]
    args += ["--lora-r", "16", "--lora-alpha", "32", "--target-modules", "q_proj,v_proj", "--quantize"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(args)
    seconds = json.loads(printed.getvalue().strip().splitlines()[-1])["train_seconds"]
    counts = read_json(out / "manifest.json")["counts"]
    epochs = steps / -(-counts["trajectories"] // batch_size)
    return {
        "train_tokens_per_s": round(counts["tokens"] * epochs / max(seconds, 1e-9), 1),
        "train_seconds": seconds,
        "negatives": counts["negatives"],
        "first_loss": counts["first_loss"],
        "final_loss": counts["final_loss"],
    }


def recorded_cases(data: Path, n: int) -> list[tuple]:
    """Up to ``n`` episodes with at least 4 steps, each with two cut points (the second extends the first)."""
    from a3t.trajectory import read_trajectories

    trajs = [t for t in read_trajectories(data) if len(t.steps) >= 4][:n]
    return [(t, len(t.steps) // 3, 2 * len(t.steps) // 3) for t in trajs]


def play(player, cases: list[tuple]) -> tuple[list[str], float]:
    """Greedy replies at each case's two cut points, one batch per cut (keys kept: the cache carries over)."""
    keys = [(slot, t.task_id, t.sample) for slot, (t, _, _) in enumerate(cases)]
    for slot, (t, _, _) in enumerate(cases):
        player.start(slot, None, t, None)
    replies, start = [], time.perf_counter()
    for cut in (1, 2):
        prompts = [player.prompt(slot, replace(c[0], steps=c[0].steps[: c[cut]])) for slot, c in enumerate(cases)]
        replies += player.generate(prompts, keys)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return replies, time.perf_counter() - start


def nf4_layers(model) -> dict[str, int]:
    """4-bit linear layers of ``model`` by the device their weights are on."""
    import bitsandbytes as bnb

    found: dict[str, int] = {}
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            found[str(module.weight.device)] = found.get(str(module.weight.device), 0) + 1
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="results/base_model")
    p.add_argument("--data", default="results/round0/dataset/trajectories.jsonl", type=Path)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--failures", type=int, default=4, help="successes cut short and trained on at -1")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps of 4 trajectories")
    p.add_argument("--prompts", type=int, default=16, help="recorded episodes, two prompts each")
    p.add_argument("--max-len", type=int, default=1024)
    p.add_argument("--max-new-tokens", type=int, default=48)
    args = p.parse_args(argv)
    on_cuda = args.device == "cuda"
    if on_cuda and not torch.cuda.is_available():
        print(f"cuda_smoke: no CUDA device here (torch {torch.__version__}): nothing checked")
        return 0
    missing = [str(x) for x in (args.base, args.data) if not Path(x).exists()]
    if missing:
        sys.exit(f"cuda_smoke: missing {missing}: build them first (make run TARGET=results/round0/eval.json)")

    from a3t.agents.llm import LLMPlayer
    from a3t.agents.modeling import load_agent
    from a3t.agents.prompts import parse_action

    figures: dict = {"device": torch.cuda.get_device_name() if on_cuda else "cpu", "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        data, adapter = Path(tmp) / "data.jsonl", Path(tmp) / "adapter"
        training_data(args.data, data, args.failures)
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        figures |= train(args.base, data, adapter, on_cuda, args.max_len, args.steps)
        loss = f"loss {figures['first_loss']:.3f} -> {figures['final_loss']:.3f}" if figures["final_loss"] else "no loss logged"
        print(f"1. trained {args.steps} steps: {figures['train_tokens_per_s']:.0f} tok/s, {loss}", flush=True)

        cases = recorded_cases(args.data, args.prompts)
        dtype = "bfloat16" if on_cuda else "float32"
        model, tok = load_agent(args.base, str(adapter), True, dtype, merge=False, on=args.device)
        figures["nf4_layers"] = nf4_layers(model)
        player = LLMPlayer(model, tok, args.max_len, args.max_new_tokens)
        replies, seconds = play(player, cases)
        figures["generated_tokens_per_s"] = round(player.generated_tokens / max(seconds, 1e-9), 1)
        figures["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1) if on_cuda else None
        print(f"2. generated {len(replies)} replies (NF4 + adapter, not merged): {figures['generated_tokens_per_s']:.0f} tok/s")
        del model, player

        cpu_model, cpu_tok = load_agent(args.base, str(adapter), True, "float32", merge=True, on="cpu")
        cpu_replies, _ = play(LLMPlayer(cpu_model, cpu_tok, args.max_len, args.max_new_tokens), cases)
    same = [parse_action(a) == parse_action(b) for a, b in zip(replies, cpu_replies, strict=True)]
    figures |= {
        "replies": len(replies),
        "action_agreement": round(sum(same) / max(len(same), 1), 3),
        "reply_agreement": round(sum(a == b for a, b in zip(replies, cpu_replies, strict=True)) / max(len(replies), 1), 3),
    }
    print(f"3. actions equal to the CPU path's (merged, float32): {sum(same)}/{len(same)}")
    print(f"4. peak GPU memory: {figures['peak_gpu_mib']} MiB")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
