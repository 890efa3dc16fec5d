"""ActRe, "act then reason": given the history and an action, write the reason for that action.

The paper's ActRe prompt (its Table 11) shows each step as ``Action: act[...]`` followed by
``Reason for the action: [...]``. In our chat form the ActRe view of a trajectory turns every ReAct
pair (``think: T`` answered by ``OK.``, then action ``a``) into one assistant turn
``act: a`` / ``reason: T``; an action without a thought stays ``act: a``. To ask ActRe for the
reason of a sampled action, the prompt is the ActRe view of the history plus the opened turn
``act: a\\nreason:``; the model writes the reason and ends the turn. Training on this view puts the
loss on the reason tokens only (:func:`encode_actre`).
"""

from __future__ import annotations

from a3t.agents.prompts import fit_messages
from a3t.trajectory import Step, Trajectory

ACT, REASON = "act: ", "reason:"


def actre_turn(action: str, reason: str | None = None) -> str:
    return f"{ACT}{action}" + (f"\n{REASON} {reason}" if reason else "")


def actre_messages(initial_observation: str, steps: list[Step]) -> list[dict]:
    """The ActRe view of a history: each thought folded into the turn of the action that follows it."""
    out = [{"role": "user", "content": initial_observation}]
    reason = None
    for step in steps:
        if step.is_thought:
            reason = step.action.split(":", 1)[1].strip()
            continue
        out.append({"role": "assistant", "content": actre_turn(step.action, reason)})
        out.append({"role": "user", "content": step.observation})
        reason = None
    return out


def actre_prompt(tok, initial_observation: str, steps: list[Step], action: str, budget: int) -> str:
    """The text ActRe continues with the reason for ``action`` after ``steps`` (oldest steps dropped to fit)."""
    msgs = actre_messages(initial_observation, steps)
    msgs = fit_messages(msgs, tok, budget)
    head = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return head + f"{ACT}{action}\n{REASON}"


def parse_reason(text: str) -> str:
    """ActRe's continuation -> one-line reason (empty when it wrote nothing usable)."""
    line = text.strip().split("\n", 1)[0] if text.strip() else ""
    return " ".join(line.split())


def has_reasons(traj: Trajectory) -> bool:
    """True when some thought is directly followed by an action (something for ActRe to learn)."""
    return any(a.is_thought and not b.is_thought for a, b in zip(traj.steps, traj.steps[1:], strict=False))


def encode_actre(traj: Trajectory, tok, max_len: int) -> dict:
    """Token ids and labels of a trajectory's ActRe view, the loss on the reason tokens (and turn ends) only."""
    msgs = actre_messages(traj.initial_observation, traj.steps)
    msgs = fit_messages(msgs, tok, max_len - 2)
    text = tok.apply_chat_template(msgs, tokenize=False)
    spans, pos = [], 0
    for m in msgs:  # character spans of the reasons, found in order in the rendered text
        start = text.index(m["content"], pos)
        pos = start + len(m["content"])
        if m["role"] == "assistant" and f"\n{REASON}" in m["content"]:
            spans.append((start + m["content"].index(f"\n{REASON}") + len(REASON) + 1, pos))
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    labels = [-100] * len(ids)
    for k, (s, _) in enumerate(offsets):
        for a, b in spans:
            if a <= s < b or (s >= b and k > 0 and offsets[k - 1][0] < b):  # reason tokens + the token closing the turn
                labels[k] = ids[k]
                break
    return {"input_ids": ids[:max_len], "labels": labels[:max_len]}
