"""Constrained decoding: a reply decoded among the admissible commands (a token trie per row), candidate commands
packed as one prefix tree for scoring, and a cut reply completed to its command."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from a3t.envs.grammar import grammar_variants, is_thought


class AdmissibleOnly(LogitsProcessor):
    """Decode each constrained row's reply as one of its commands (token by token), or as a free thought.

    ``tries[r]`` maps the reply's tokens so far to the tokens that may follow (a command's last token
    is followed by the end token); ``None`` leaves row r free (an ActRe reason). A reply that starts
    with ``think:`` is free after it. Rows past their end token are left alone (``generate`` pads them).
    ``prior[r]``: row r's reply tokens decoded at earlier calls (a reply continued).
    """

    def __init__(self, start: int, tries: list[dict | None], think: tuple[int, ...], prior: list[tuple[int, ...]] | None = None):
        self.start, self.tries, self.think = start, tries, think
        self.prior = prior or [()] * len(tries)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for r, trie in enumerate(self.tries):
            if trie is None:
                continue
            reply = self.prior[r] + tuple(input_ids[r, self.start :].tolist())
            if reply[: len(self.think)] == self.think:
                continue
            allowed = trie.get(reply)
            if allowed:
                idx = torch.tensor(sorted(allowed), device=scores.device)
                keep = scores[r, idx]
                scores[r] = -torch.inf
                scores[r, idx] = keep
        return scores


@dataclass
class CandidateTree:
    """Candidate replies packed as one prefix tree of tokens: one forward pass scores them all.

    Node j holds ``tokens[j]``, the child of node ``parents[j]`` (-1: of the prompt), at ``depth[j]``
    tokens after the prompt; ``paths[c]`` lists candidate c's nodes. Replies that share a beginning
    (``go to ...``) share its nodes, so the pass reads each distinct prefix once.
    """

    tokens: list[int]
    parents: list[int]
    depth: list[int]
    paths: list[list[int]]

    @classmethod
    def of(cls, sequences: list[tuple[int, ...]]) -> CandidateTree:
        tree, index = cls([], [], [], []), {}
        for seq in sequences:
            for i in range(len(seq)):
                if seq[: i + 1] not in index:
                    index[seq[: i + 1]] = len(tree.tokens)
                    tree.tokens.append(seq[i])
                    tree.parents.append(index[seq[:i]] if i else -1)
                    tree.depth.append(i)
            tree.paths.append([index[seq[: i + 1]] for i in range(len(seq))])
        return tree

    def attention(self) -> torch.Tensor:
        """(nodes, nodes) bool: node j attends to itself and its ancestors."""
        n = len(self.tokens)
        mask = torch.zeros((n, n), dtype=torch.bool)
        for j, parent in enumerate(self.parents):
            if parent >= 0:
                mask[j] = mask[parent]
            mask[j, j] = True
        return mask


def command_variants(commands: list[str]) -> list[str]:
    """Each command in both placing grammars: what an admissible reply may be."""
    return [v for c in commands for v in grammar_variants(c)]


def complete_command(reply: str, commands: list[str]) -> str:
    """A constrained reply the token budget cut (``go to garba``) -> the first command it begins; else unchanged."""
    text = " ".join(reply.split())
    if not text or is_thought(text):
        return reply
    variants = command_variants(commands)
    if text in variants:
        return reply
    return next((v for v in variants if v.startswith(text)), reply)


def whole_commands(replies: list[str], allowed: list[list[str] | None]) -> list[str]:
    """Each constrained reply made a whole command (``allowed`` empty: nothing constrained)."""
    allowed = allowed or [None] * len(replies)
    return [r if a is None or r is None else complete_command(r, a) for r, a in zip(replies, allowed, strict=True)]
