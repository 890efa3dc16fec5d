"""The paper's prompted teacher behind a completions endpoint: 1-shot ReAct for round 0, and ActRe.

ReAct prompt (the ReAct/A3T ALFWorld format): an instruction, one solved episode of the same task
type, then the task so far, each step as ``> action`` and the observation; the model continues after
``> `` with one line, a ``think: ...`` or an action.

ActRe prompt (A3T's Table 11): the history with each action as ``Action: act[...]``, the reason for it
(the thought that preceded it) as ``Reason for the action: ...`` and ``Observation: ...``; the query
ends with the sampled action and an open ``Reason for the action:`` that the model completes.

The examples (``data/react_examples.jsonl``, one per task type) are the scripted teacher's shortest
won episode of each type on the default config's training games, from when its search plans named
places in the paper's style (``drawer (1-5)``, likely surfaces first); they are shown in the grammar of
the game being played: ALFWorld 0.4 (``move X to Y``) or older data (``put X in/on Y``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from a3t.agents.actre import parse_reason
from a3t.agents.endpoint import Endpoint
from a3t.agents.prompts import parse_action
from a3t.envs.games import Game
from a3t.trajectory import Step, Trajectory, read_trajectories

EXAMPLES = Path(__file__).parents[1] / "data" / "react_examples.jsonl"
REACT_INSTRUCTION = "Interact with a household to solve a task. Here is an example.\n"
ACTRE_INSTRUCTION = (
    "Here is a household task and the actions taken so far, each with the reason for it. Write the reason for the last action.\n"
)
_MOVE = re.compile(r"^move (.+) to (.+)$")
_MOVED = re.compile(r"^You move the (.+) to the (.+)\.$")


@functools.cache
def examples() -> dict[str, Trajectory]:
    return {t.task_type: t for t in read_trajectories(EXAMPLES)}


def game_grammar(game: Game) -> str:
    """``move`` (ALFWorld 0.4: ``move X to Y``) or ``put`` (older data: ``put X in/on Y``)."""
    return "move" if "You move the {o.name} to the {r.name}" in game.data().get("grammar", "") else "put"


def in_grammar(step: Step, grammar: str) -> Step:
    """A step of the examples (written in the 0.4 grammar) as the other grammar says it."""
    if grammar == "move":
        return step
    action = _MOVE.sub(r"put \1 in/on \2", step.action)
    observation = _MOVED.sub(r"You put the \1 in/on the \2.", step.observation)
    return Step(action, observation, step.source)


def react_text(initial_observation: str, steps: list[Step]) -> str:
    return initial_observation + "\n" + "".join(f"> {s.action}\n{s.observation}\n" for s in steps)


def react_prompt(task_type: str, grammar: str, initial_observation: str, steps: list[Step]) -> str:
    ex = examples()[task_type]
    shown = react_text(ex.initial_observation, [in_grammar(s, grammar) for s in ex.steps])
    return f"{REACT_INSTRUCTION}{shown}\nHere is the task.\n{react_text(initial_observation, steps)}>"


def actre_text(initial_observation: str, steps: list[Step]) -> str:
    """The Table-11 view: thoughts become the reason of the action after them."""
    lines, reason = [initial_observation], None
    for step in steps:
        if step.is_thought:
            reason = step.action.split(":", 1)[1].strip()
            continue
        lines.append(f"Action: act[{step.action}]")
        if reason:
            lines.append(f"Reason for the action: {reason}")
        lines.append(f"Observation: {step.observation}")
        reason = None
    return "\n".join(lines) + "\n"


def actre_prompt(task_type: str, grammar: str, initial_observation: str, steps: list[Step], action: str) -> str:
    ex = examples()[task_type]
    shown = actre_text(ex.initial_observation, [in_grammar(s, grammar) for s in ex.steps])
    history = actre_text(initial_observation, steps)
    return f"{ACTRE_INSTRUCTION}{shown}\nHere is the task.\n{history}Action: act[{action}]\nReason for the action:"


class PromptedTeacher:
    """Round 0's teacher: the endpoint prompted 1-shot in ReAct format (a Player for run_episodes)."""

    def __init__(self, endpoint: Endpoint, threads: int = 8):
        self.endpoint, self.threads = endpoint, threads
        self._grammar: dict[int, str] = {}

    def start(self, slot, game, traj, rng):
        self._grammar[slot] = game_grammar(game)

    def act(self, trajs, admissible):
        slots = sorted(trajs)
        prompts = [react_prompt(t.task_type, self._grammar[s], t.initial_observation, t.steps) for s, t in sorted(trajs.items())]
        replies = self.endpoint.complete_all(prompts, stop=["\n"], threads=self.threads)
        return {s: (parse_action(r) or "look", "teacher") for s, r in zip(slots, replies, strict=True)}


class EndpointActRe:
    """ActRe as the paper has it: the prompted teacher writes the reason for a sampled action."""

    def __init__(self, endpoint: Endpoint, threads: int = 8):
        self.endpoint, self.threads = endpoint, threads

    def reasons(self, queries: list[tuple[Trajectory, str, str]]) -> list[str]:
        """(trajectory so far, its game's grammar, sampled action) -> the one-line reason for each."""
        prompts = [actre_prompt(t.task_type, g, t.initial_observation, t.steps, a) for t, g, a in queries]
        return [parse_reason(r) for r in self.endpoint.complete_all(prompts, stop=["\n"], threads=self.threads)]
