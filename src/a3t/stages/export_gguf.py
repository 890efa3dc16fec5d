"""Stage ``export_gguf``: a round's agent (the adapter merged into the base) as one GGUF file for llama.cpp.

    python -m a3t.stages.export_gguf --base results/base_model --no-quantize --adapter results/round0/adapter \\
        --out results/round0/agent_gguf

The merge is done in float32 on the very weights the adapter was trained on (an NF4 base is dequantized
first), then written as ``--weight-type`` (a3t.agents.to_gguf). Before the folder is kept, llama.cpp and the
torch model read the same fixed prompts: the greedy continuation must be the same tokens, and the largest
difference of their next-token logits is recorded in the manifest (and must stay within ``--tolerance``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from a3t.agents.llamacpp import LlamaBatch
from a3t.agents.modeling import load_agent
from a3t.agents.player_args import AGENT_FILE
from a3t.agents.prompts import messages
from a3t.agents.to_gguf import WEIGHT_TYPES, write_gguf
from a3t.io import A3TError, atomic_dir, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, parse_stage_args
from a3t.trajectory import Step

# largest |logit difference| accepted against the float32 torch model, per weight type (measured on SmolLM2's
# round-0 agent: docs/performance.md); the greedy tokens must be the same whatever the type
TOLERANCE = {"F32": 0.05, "F16": 0.5, "BF16": 2.0, "Q8_0": 2.0}

_CHECKS = [
    ("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, a drawer 1, "
     "a fridge 1, a microwave 1, and a sinkbasin 1.\n\nYour task is to: put a clean mug in coffeemachine.", []),
    ("You are in the middle of a room. Looking quickly around you, you see a bed 1, a desk 1, a drawer 2, a drawer 1, "
     "a garbagecan 1, and a shelf 1.\n\nYour task is to: look at alarmclock under the desklamp.",
     [("go to desk 1", "You arrive at desk 1. On the desk 1, you see a alarmclock 1, a desklamp 1, and a pen 2.")]),
    ("You are in the middle of a room. Looking quickly around you, you see a countertop 2, a countertop 1, "
     "a diningtable 1, a fridge 1, and a stoveburner 1.\n\nYour task is to: put two apple in fridge.",
     [("think: First I need to find the first apple.", "OK."), ("go to countertop 1", "You arrive at countertop 1. "
      "On the countertop 1, you see a apple 1, a bread 1, and a knife 2.")]),
]  # fmt: skip


def check_prompts(tok) -> list[list[int]]:
    """The fixed chat prompts the GGUF is checked on: ALFWorld-like openings after 0, 1 and 2 steps."""
    prompts = []
    for opening, steps in _CHECKS:
        history = [Step(action, observation) for action, observation in steps]
        text = tok.apply_chat_template(messages(opening, history), tokenize=False, add_generation_prompt=True)
        prompts.append(tok(text, add_special_tokens=False)["input_ids"])
    return prompts


@torch.no_grad()
def compare(model, tok, gguf: Path, new_tokens: int = 12, threads: int = 2) -> dict:
    """llama.cpp on ``gguf`` against the torch ``model`` on :func:`check_prompts`: greedy tokens, logit differences."""
    engine = LlamaBatch(gguf, sequences=len(_CHECKS), context=2048, threads=threads)
    try:
        worst, same = 0.0, True
        for j, prompt in enumerate(check_prompts(tok)):
            ours, theirs = list(prompt), list(prompt)
            for _ in range(new_tokens):
                reference = model(input_ids=torch.tensor([theirs])).logits[0, -1].float().numpy()
                logits = engine.forward([j], [ours])[0]
                worst = max(worst, float(np.abs(logits - reference).max()))
                ours.append(int(np.argmax(logits)))
                theirs.append(int(np.argmax(reference)))
                same &= ours[-1] == theirs[-1]
                if not same or theirs[-1] == tok.eos_token_id:
                    break
    finally:
        engine.close()
    return {"prompts": len(_CHECKS), "greedy_tokens_identical": same, "max_abs_logit_diff": round(worst, 5)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.export_gguf", description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--gguf-file", default="", help="a GGUF file inside --base, for GGUF checkpoints")
    p.add_argument("--adapter", default="", help="the round's LoRA adapter (none: the base alone)")
    add_setting(p, "model.quantize", help="the base was trained on in NF4 (QLoRA)")
    add_setting(p, "model.gguf_type", "--weight-type", choices=sorted(WEIGHT_TYPES))
    p.add_argument("--tolerance", type=float, default=None, help="largest logit difference accepted (default: per type)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--threads", type=int, default=2)
    args = parse_stage_args(p, argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model, tok = load_agent(args.base, args.adapter or None, args.quantize, "float32", args.gguf_file, merge=True)
    tolerance = TOLERANCE[args.gguf_type] if args.tolerance is None else args.tolerance
    with atomic_dir(args.out) as tmp:
        shape = write_gguf(model, tok, tmp / AGENT_FILE, args.gguf_type, pre_tokenizer="smollm" if _smollm(tok) else "default")
        check = compare(model, tok, tmp / AGENT_FILE, threads=args.threads)
        print(json.dumps(check))
        if not check["greedy_tokens_identical"] or check["max_abs_logit_diff"] > tolerance:
            raise A3TError(
                f"{args.out}/{AGENT_FILE}: llama.cpp and torch disagree on the check prompts ({check}; tolerance {tolerance})"
            )
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "threads")}
        write_manifest(tmp, "export_gguf", config, inputs=[], check={**check, "tolerance": tolerance}, **shape)
    size = (args.out / AGENT_FILE).stat().st_size
    print(f"{args.out}/{AGENT_FILE}: {args.gguf_type}, {size / 2**20:.0f} MiB in {time.perf_counter() - start:.0f} s")


def _smollm(tok) -> bool:
    return "<|im_start|>" in tok.get_vocab() and len(tok) == 49152


if __name__ == "__main__":
    run_cli(main)
