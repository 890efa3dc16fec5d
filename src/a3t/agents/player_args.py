"""The agent's command-line flags, shared by the stages that play with it (evaluate, rollout, explore),
and the batched player they describe: transformers (:class:`~a3t.agents.llm.LLMPlayer`) or vLLM."""

from __future__ import annotations

import argparse
from pathlib import Path

from a3t import hardware
from a3t.agents.llm import LLMPlayer
from a3t.agents.modeling import check_adapter, load_agent, load_tokenizer
from a3t.io import A3TError
from a3t.settings import add_setting

ENGINES = tuple(e for e in hardware.ENGINES if e != "auto")  # a stage runs the engine the workflow chose
AGENT_FILE = "agent.gguf"  # inside a round's agent_gguf folder (stage export_gguf)


def add_agent_args(p: argparse.ArgumentParser, adapter_help: str) -> None:
    """The CLI arguments of the stages that play episodes with the agent (evaluate/rollout, explore)."""
    p.add_argument("--base", required=True)
    p.add_argument("--gguf-file", default="")
    p.add_argument("--adapter", default="", help=adapter_help)
    add_setting(p, "env.step_limit")
    add_setting(p, "train.max_len")
    add_setting(p, "eval.max_new_tokens")
    add_setting(p, "eval.batch_size")
    p.add_argument("--workers", type=int, default=2, help="environment worker processes")
    add_setting(p, "model.quantize")
    add_setting(p, "model.merge_for_inference", "--merge")
    add_setting(p, "model.compute_dtype")
    add_setting(p, "model.engine", choices=ENGINES, default="torch",
                help="generation: transformers (torch), llama.cpp (CPUs; with --agent-gguf) or vLLM (GPUs)")  # fmt: skip
    p.add_argument("--agent-gguf", default="", help="the agent as one GGUF file (stage export_gguf), for --engine llamacpp")
    add_setting(p, "model.actions")
    add_setting(p, "model.think_limit")
    add_setting(p, "model.decode_chunk")
    add_setting(p, "seed")
    add_setting(p, "shards.threads", "--threads")


def agent_from_args(args: argparse.Namespace, temperature: float = 0.0) -> LLMPlayer:
    """Load base (+ adapter) as :func:`add_agent_args` described it, as a batched player."""
    quantize = args.quantize
    if args.engine == "llamacpp":
        from a3t.agents.llamacpp import LlamaCppPlayer

        if not args.agent_gguf:
            raise A3TError("--engine llamacpp needs --agent-gguf (the agent written by python -m a3t.stages.export_gguf)")
        gguf = Path(args.agent_gguf)
        gguf = gguf / AGENT_FILE if gguf.is_dir() else gguf
        tok = load_tokenizer(args.base, args.gguf_file)
        return LlamaCppPlayer(
            gguf, tok, args.max_len, args.max_new_tokens, temperature, args.seed, actions=args.actions,
            think_limit=args.think_limit, decode_chunk=args.decode_chunk, threads=args.threads,
            sequences=min(256, 2 * args.batch_size + 2),
        )  # fmt: skip
    if args.engine == "vllm":
        if args.actions != "free":
            raise A3TError(f"--actions {args.actions} needs the torch or llamacpp engine (vLLM would need guided decoding)")
        if args.decode_chunk:
            raise A3TError("--decode-chunk needs the torch or llamacpp engine (vLLM batches continuously itself)")
        from a3t.agents.vllm_player import VLLMPlayer  # the optional extra, imported only when asked for

        adapter = args.adapter or None
        check_adapter(adapter)
        gen = (args.max_len, args.max_new_tokens, temperature, args.seed)
        return VLLMPlayer(args.base, adapter, load_tokenizer(args.base), *gen, quantize, args.compute_dtype)
    model, tok = load_agent(
        args.base, args.adapter or None, quantize, args.compute_dtype, args.gguf_file, args.merge_for_inference
    )
    return LLMPlayer(
        model,
        tok,
        args.max_len,
        args.max_new_tokens,
        temperature,
        args.seed,
        actions=args.actions,
        think_limit=args.think_limit,
        decode_chunk=args.decode_chunk,
    )
