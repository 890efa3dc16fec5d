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

from a3t.agents.teacher import _ITEM, _SEEN, VERB, parse_goal  # the teacher's readers of goals and observations
from a3t.agents.teacher import _holders_of as holders_of
from a3t.agents.teacher import _kind as kind
from a3t.envs.generate import TOOL
from a3t.envs.grammar import _PUT, NOTHING_HAPPENS  # _PUT: a placing command in either grammar
from a3t.trajectory import Step, Trajectory

PAST = {"heat": "heated", "cool": "cooled", "clean": "cleaned"}
_SEPARATOR = {"go": " to ", "take": " from ", "heat": " with ", "cool": " with ", "clean": " with "}


def seen_items(observation: str) -> list[str] | None:
    """The objects an observation shows on or in a receptacle (None when it shows none)."""
    m = _SEEN.search(observation)
    return _ITEM.findall(m.group(2)) if m else None


def parse_command(action: str) -> tuple[str, str, str]:
    """``take apple 1 from cabinet 1`` -> ``("take", "apple 1", "cabinet 1")``: verb, object, place.

    Placing commands (either grammar) read as ``move``; a one-argument command (``open drawer 1``)
    has its argument as the place; ``go to X`` has no object.
    """
    m = _PUT.match(action)
    if m:
        return "move", m.group(1), m.group(2)
    head, _, rest = action.partition(" ")
    sep = _SEPARATOR.get(head)
    if sep == " to ":
        return head, "", rest[len("to ") :] if rest.startswith("to ") else ""
    if sep and sep in rest:
        obj, place = rest.split(sep, 1)
        return head, obj, place
    return head, "", rest


@dataclass
class Reading:
    """What a reader of a history knows, and the step indices of its last events."""

    here: str = ""
    holding: str = ""
    done: set[str] = field(default_factory=set)  # objects heated / cooled / cleaned
    seen: dict[str, list[str]] = field(default_factory=dict)  # receptacle -> objects last seen there
    placed: list[str] = field(default_factory=list)  # objects of kind ``obj`` put on ``target``
    took_at: int = -1
    treated_at: int = -1
    placed_at: int = -1
    closed_here: bool = False  # the last move arrived at a closed receptacle


def read_history(steps: list[Step], obj: str = "", target: str = "") -> Reading:
    """What the history has shown: the state a reader of it can know (thoughts and invalid actions change nothing)."""
    r = Reading()
    for i, step in enumerate(steps):
        if step.is_thought or step.observation == NOTHING_HAPPENS:
            continue
        verb, item, place = parse_command(step.action)
        r.closed_here = False
        if verb == "go" and place:
            r.here = place
            r.closed_here = f"The {place} is closed" in step.observation
        elif verb == "take" and item:
            r.holding, r.took_at = item, i
            r.seen[r.here] = [x for x in r.seen.get(r.here, []) if x != item]
        elif verb == "move":
            r.holding = ""
            if item and kind(item) == obj and place == target:
                r.placed.append(item)
                r.placed_at = i
        elif verb in PAST and item:
            r.done.add(item)
            r.treated_at = i
        items = seen_items(step.observation)
        if items is not None and r.here:
            r.seen[r.here] = items
    return r


def _reason(task_type: str, goal: str, steps: list[Step], action: str) -> str:
    g = parse_goal(task_type, goal)
    obj, recep, toggle = g.get("obj", ""), g.get("recep", ""), g.get("toggle", "")
    verb = VERB.get(TOOL.get(task_type, ("",))[0], "")
    s = read_history(steps)
    head, item, where = parse_command(action)
    if head == "go" and where:
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
    if head == "open" and where:
        return f"The {where} is closed. I will open it and look inside."
    if head == "close" and where:
        return f"There is nothing I need in the {where}. I will close it."
    if head == "take" and item:
        if kind(item) == obj:
            return f"Now I find a {obj}: {item}. Next, I need to take it."
        return f"I will take the {item} to see if it helps with the task."
    if head == "move" and item:
        if kind(item) == obj and recep:
            return f"Now I have the {item}. Next, I need to put it in/on the {recep}."
        return f"I do not need the {item}. I will put it down here."
    if head in PAST and item:
        return f"Now I take the {item}. Next, I need to {head} it with {where}."
    if head == "use" and where:
        return f"Now I find a {toggle or kind(where)}: {where}. Next, I need to use it."
    if head == "examine" and where:
        return f"I will examine the {where} to see what is there."
    return f"I will try to {action}."


def scripted_reason(traj: Trajectory, action: str) -> str:
    """The reason for ``action`` after ``traj``'s steps, in the teacher's words."""
    return _reason(traj.task_type, traj.goal, traj.steps, action)


class ScriptedActRe:
    """ActRe as a scripted teacher: the same interface as the endpoint's (:class:`a3t.agents.prompted.EndpointActRe`)."""

    def reasons(self, queries: list[tuple[Trajectory, str, str]]) -> list[str]:
        """(trajectory so far, its game's grammar, sampled action) -> the one-line reason for each."""
        return [scripted_reason(t, a) for t, _, a in queries]
