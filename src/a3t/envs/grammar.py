"""The command grammar of ALFWorld's text games, and ReAct's thoughts: plain text, no game engine imported
(so that the agent loads where TextWorld is not installed, e.g. a GPU machine that only generates)."""

from __future__ import annotations

import re

THINK_PREFIX = "think:"
THINK_REPLY = "OK."
NOTHING_HAPPENS = "Nothing happens."
_PUT = re.compile(r"^(?:put|move) (.+?) (?:in/on|into|in|on|to) (.+)$")


def is_thought(action: str) -> bool:
    return action.strip().lower().startswith(THINK_PREFIX)


def grammar_variants(action: str) -> list[str]:
    """The same placing command in both ALFWorld grammars (0.4 ``move X to Y``; older ``put X in/on Y``)."""
    action = " ".join(action.strip().split())
    m = _PUT.match(action)
    if not m:
        return [action]
    obj, rec = m.groups()
    return [action] + [v for v in (f"move {obj} to {rec}", f"put {obj} in/on {rec}") if v != action]


def resolve_command(action: str, admissible: list[str]) -> str:
    """Map ``action`` onto the admissible command it means, in whichever grammar the game speaks."""
    for variant in grammar_variants(action):
        if variant in admissible:
            return variant
    return " ".join(action.strip().split())
