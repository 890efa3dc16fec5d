"""ReAct prompts as chat messages: a trajectory <-> messages, and the model's reply -> an action.

The first user message is the game's opening observation (it ends with "Your task is to: ...");
then each step is an assistant message (the action or ``think: ...``) and a user message (the
env's feedback, ``OK.`` for thoughts). Long histories keep the opening and the latest steps.
"""

from __future__ import annotations

from a3t.trajectory import Step, Trajectory

# A chat template with {% generation %} markers, so that transformers can return the assistant-token mask.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}<|assistant|>"
    "{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}{% else %}<|user|>{{ m['content'] }}<|end|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "<|user|>", "<|assistant|>", "<|end|>"]


def messages(initial_observation: str, steps: list[Step]) -> list[dict]:
    out = [{"role": "user", "content": initial_observation}]
    for step in steps:
        out.append({"role": "assistant", "content": step.action})
        out.append({"role": "user", "content": step.observation})
    return out


def trajectory_messages(traj: Trajectory) -> list[dict]:
    return messages(traj.initial_observation, traj.steps)


def keep_recent(msgs: list[dict], lengths: list[int], budget: int) -> list[dict]:
    """Drop the oldest (assistant, user) pairs after the opening until the token ``lengths`` fit ``budget``."""
    total = sum(lengths)
    start = 1
    while total > budget and start + 2 < len(msgs):
        total -= lengths[start] + lengths[start + 1]
        start += 2
    return msgs[:1] + msgs[start:]


def message_length(tok, text: str) -> int:
    """Tokens of one chat message: its content, +2 for its role and end tokens."""
    return len(tok(text, add_special_tokens=False)["input_ids"]) + 2


def fit_messages(msgs: list[dict], tok, budget: int) -> list[dict]:
    """:func:`keep_recent` with each message's length counted by ``tok``."""
    return keep_recent(msgs, [message_length(tok, m["content"]) for m in msgs], budget)


def parse_action(text: str) -> str:
    """The model's reply -> one action: the first line, whitespace collapsed, a leading '>' dropped."""
    line = text.strip().split("\n", 1)[0] if text.strip() else ""
    return " ".join(line.removeprefix(">").split())
