"""Scripted ActRe: the round-0 teacher's voice explaining an arbitrary action (offline stand-in for the
paper's ActRe, the prompted teacher model that annotates in every round).

Given the task and what the history has shown (where the agent is, what it saw where, what it holds,
what it already heated, cooled or cleaned), it writes the reason for a sampled action in the words
the teacher's own thoughts use ("Now I find a book: book 1. Next, I need to take it."). Like a
prompted model, it rationalizes whatever it is given: a detour gets an honest reason ("I do not
need the cd 1 ..."), not a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from a3t.envs.env import NOTHING_HAPPENS
from a3t.envs.generate import TOOL
from a3t.teacher import _ITEM, _SEEN, VERB, parse_goal  # the teacher's readers of goals and observations
from a3t.teacher import _holders_of as holders_of
from a3t.teacher import _kind as kind
from a3t.trajectory import Step, Trajectory

PAST = {"heat": "heated", "cool": "cooled", "clean": "cleaned"}


def seen_items(observation: str) -> list[str] | None:
    """The objects an observation shows on or in a receptacle (None when it shows none)."""
    m = _SEEN.search(observation)
    return _ITEM.findall(m.group(2)) if m else None


@dataclass
class _State:
    here: str = ""
    holding: str = ""
    done: set[str] = field(default_factory=set)  # objects heated / cooled / cleaned
    seen: dict[str, list[str]] = field(default_factory=dict)  # receptacle -> objects last seen there


def _replay(steps: list[Step]) -> _State:
    """What the history has shown: the state a reader of it can know."""
    s = _State()
    for step in steps:
        if step.is_thought or step.observation == NOTHING_HAPPENS:
            continue
        words = step.action.split()
        verb, obs = words[0] if words else "", step.observation
        if verb == "go" and len(words) > 2:
            s.here = " ".join(words[2:])
        elif verb == "take" and " from " in step.action:
            s.holding = step.action[len("take ") :].split(" from ")[0]
            s.seen[s.here] = [i for i in s.seen.get(s.here, []) if i != s.holding]
        elif verb in ("move", "put"):
            s.holding = ""
        elif verb in PAST and " with " in step.action:
            s.done.add(step.action[len(verb) + 1 :].split(" with ")[0])
        items = seen_items(obs)
        if items is not None and s.here:
            s.seen[s.here] = items
    return s


def _reason(task_type: str, goal: str, steps: list[Step], action: str) -> str:
    g = parse_goal(task_type, goal)
    obj, recep, toggle = g.get("obj", ""), g.get("recep", ""), g.get("toggle", "")
    verb = VERB.get(TOOL.get(task_type, ("",))[0], "")
    s = _replay(steps)
    words = action.split()
    head = words[0] if words else ""
    if head == "go" and len(words) > 2:
        where = " ".join(words[2:])
        want = toggle if toggle and s.holding else obj
        hit = [i for i in s.seen.get(where, []) if kind(i) == want]
        if s.holding and kind(s.holding) == obj and not hit:
            if verb and s.holding not in s.done and where.startswith(("microwave", "fridge", "sinkbasin")):
                return f"Now I take the {s.holding}. Next, I need to go to {where} and {verb} it."
            if recep and kind(where) == recep:
                done = PAST[verb] if verb and s.holding in s.done else "take"
                return f"Now I {done} the {s.holding}. Next, I need to put it in/on {where}."
            if toggle:
                return f"Now I take the {s.holding}. Next, I need to find a {toggle}. It may be on {where}."
        if hit:
            return f"I remember seeing {hit[0]} in/on {where}. I will go back there."
        if where not in s.seen and (kind(where) in holders_of(want) or toggle):
            return f"I need to find a {want}. A {want} may be in/on {where}. I can check it."
        return f"The {want} is not in the places I checked. I will look at {where}."
    if head == "open" and len(words) > 1:
        return f"The {' '.join(words[1:])} is closed. I will open it and look inside."
    if head == "close" and len(words) > 1:
        return f"There is nothing I need in the {' '.join(words[1:])}. I will close it."
    if head == "take" and " from " in action:
        item = action[len("take ") :].split(" from ")[0]
        if kind(item) == obj:
            return f"Now I find a {obj}: {item}. Next, I need to take it."
        return f"I will take the {item} to see if it helps with the task."
    if head in ("move", "put"):
        item = " ".join(words[1:]).split(" to ")[0].split(" in/on ")[0]
        if kind(item) == obj and recep:
            return f"Now I have the {item}. Next, I need to put it in/on the {recep}."
        return f"I do not need the {item}. I will put it down here."
    if head in PAST and " with " in action:
        item, tool = action[len(head) + 1 :].split(" with ", 1)
        return f"Now I take the {item}. Next, I need to {head} it with {tool}."
    if head == "use" and len(words) > 1:
        return f"Now I find a {toggle or kind(' '.join(words[1:]))}: {' '.join(words[1:])}. Next, I need to use it."
    if head == "examine" and len(words) > 1:
        return f"I will examine the {' '.join(words[1:])} to see what is there."
    return f"I will try to {action}."


def scripted_reason(traj: Trajectory, action: str) -> str:
    """The reason for ``action`` after ``traj``'s steps, in the teacher's words."""
    return _reason(traj.task_type, traj.goal, traj.steps, action)


class ScriptedActRe:
    """ActRe as a scripted teacher: the same interface as the endpoint's (:class:`a3t.prompted.EndpointActRe`)."""

    def reasons(self, queries: list[tuple[Trajectory, str, str]]) -> list[str]:
        """(trajectory so far, its game's grammar, sampled action) -> the one-line reason for each."""
        return [scripted_reason(t, a) for t, _, a in queries]
