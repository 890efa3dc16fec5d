"""The language agent as a batched player: one ``generate`` call per step for every live episode."""

from __future__ import annotations

import argparse
import random
import zlib

import torch

from a3t.modeling import load_agent
from a3t.prompts import keep_recent, message_length, messages, parse_action
from a3t.trajectory import Trajectory


class LLMPlayer:
    """ReAct policy: the chat history of each live episode -> its next action (greedy unless ``temperature``)."""

    def __init__(self, model, tok, max_len: int = 1536, max_new_tokens: int = 48, temperature: float = 0.0, seed: int = 0):
        self.model, self.tok = model, tok
        self.max_len, self.max_new_tokens, self.temperature = max_len, max_new_tokens, temperature
        self.seed = seed
        self.generated_tokens = 0
        self._lengths: dict[int, list[int]] = {}

    def start(self, slot: int, game, traj: Trajectory, rng: random.Random) -> None:
        self._lengths[slot] = [self._len(traj.initial_observation)]

    def _len(self, text: str) -> int:
        return message_length(self.tok, text)

    def prompt(self, slot: int, traj: Trajectory) -> str:
        lengths = self._lengths[slot]
        for step in traj.steps[(len(lengths) - 1) // 2 :]:  # message lengths are counted once, as steps arrive
            lengths += [self._len(step.action), self._len(step.observation)]
        msgs = keep_recent(messages(traj.initial_observation, traj.steps), lengths, self.max_len - self.max_new_tokens - 2)
        return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    @torch.no_grad()
    def generate(self, prompts: list[str]) -> list[str]:
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        kwargs = {"do_sample": self.temperature > 0}
        if self.temperature > 0:
            kwargs.update(temperature=self.temperature, top_k=0, top_p=1.0)
        out = self.model.generate(
            **enc,
            max_new_tokens=self.max_new_tokens,
            eos_token_id=self.tok.eos_token_id,
            pad_token_id=self.tok.pad_token_id,
            **kwargs,
        )
        new = out[:, enc["input_ids"].shape[1] :]
        self.generated_tokens += int((new != self.tok.pad_token_id).sum())
        return self.tok.batch_decode(new, skip_special_tokens=True)

    def seed_for(self, traj: Trajectory) -> None:
        """Seed sampling by what is being decided (not by the batch make-up), so reruns are identical."""
        if self.temperature > 0:
            torch.manual_seed(zlib.crc32(f"{self.seed}/{traj.task_id}/{traj.sample}/{len(traj.steps)}".encode()))

    def act(self, trajs: dict[int, Trajectory], admissible: dict[int, list[str]]) -> dict[int, tuple[str, str]]:
        slots = sorted(trajs)
        self.seed_for(trajs[slots[0]])
        replies = self.generate([self.prompt(s, trajs[s]) for s in slots])
        return {s: (parse_action(r) or "look", "policy") for s, r in zip(slots, replies, strict=True)}


def add_agent_args(p: argparse.ArgumentParser, adapter_help: str) -> None:
    """The CLI arguments of the stages that play episodes with the agent (evaluate/rollout, explore)."""
    p.add_argument("--base", required=True)
    p.add_argument("--gguf-file", default="")
    p.add_argument("--adapter", default="", help=adapter_help)
    p.add_argument("--step-limit", type=int, default=50)
    p.add_argument("--max-len", type=int, default=1536)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=8, help="episodes generated together")
    p.add_argument("--workers", type=int, default=2, help="environment worker processes")
    p.add_argument("--no-quantize", action="store_true")
    p.add_argument("--merge", action="store_true", help="generate with the adapter merged into the dequantized base")
    p.add_argument("--compute-dtype", default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)


def agent_from_args(args: argparse.Namespace, temperature: float = 0.0) -> LLMPlayer:
    """Load base (+ adapter) as :func:`add_agent_args` described it, as a batched player."""
    quantize = not args.no_quantize
    model, tok = load_agent(args.base, args.adapter or None, quantize, args.compute_dtype, args.gguf_file, args.merge)
    return LLMPlayer(model, tok, args.max_len, args.max_new_tokens, temperature, args.seed)
