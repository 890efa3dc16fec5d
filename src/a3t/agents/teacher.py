"""Round-0 teacher (offline stand-in for the paper's 1-shot prompted gpt-3.5-turbo-instruct).

It reads only the task text and what the game has shown it: it plans in a thought that names the
receptacles that can hold the object (in the order the room lists them, 6 per thought), searches
them one by one (opening closed ones) until it shows up, remembers what it saw on the way, and
writes ReAct thoughts at each turn of the plan (answered by ``OK.``).
A configurable share of episodes goes astray (random admissible actions from a random step on);
those that fail are dropped, as the paper drops gpt-3.5's failures.
"""

from __future__ import annotations

import re
from collections.abc import Generator

import alfworld.gen.goal_library as G

from a3t.envs.generate import LAMP_STANDS, TOOL
from a3t.envs.scenes import CAN_CONTAIN

Policy = Generator[str, str, None]
VERB = {"SinkBasin": "clean", "Microwave": "heat", "Fridge": "cool"}
_SEEN = re.compile(r"(?:On the|In it|In the) ?([a-z ]*\d*),? you see (.*?)\.(?:$|\s)")
_ITEM = re.compile(r"an? ([a-z]+ \d+)")
# Receptacle kinds, surfaces then storage (those a lamp may stand on are drawn from them).
_ORDER = [
    "countertop",
    "diningtable",
    "coffeetable",
    "sidetable",
    "desk",
    "dresser",
    "shelf",
    "tvstand",
    "cart",
    "sofa",
    "armchair",
    "bed",
    "ottoman",
    "fridge",
    "microwave",
    "cabinet",
    "drawer",
    "safe",
    "sinkbasin",
    "bathtubbasin",
    "toilet",
    "stoveburner",
    "coffeemachine",
    "toaster",
    "garbagecan",
    "laundryhamper",
    "handtowelholder",
    "towelholder",
    "toiletpaperhanger",
]
PLAN_PLACES = 6  # places named per search thought: a longer list is planned again, 6 at a time


def _template_regex(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for key in ("obj", "recep", "toggle"):
        pattern = pattern.replace(re.escape("{" + key + "}"), f"(?P<{key}>[a-z]+)")
    return re.compile(f"^{pattern}$")


def parse_goal(task_type: str, goal: str) -> dict[str, str]:
    """``put a clean cloth in toilet`` -> ``{"obj": "cloth", "recep": "toilet"}`` (from ALFWorld's templates)."""
    for template in G.gdict[task_type]["templates"]:
        m = _template_regex(template).match(goal.strip().rstrip(".").lower())
        if m:
            return m.groupdict()
    raise ValueError(f"cannot read a {task_type} goal from {goal!r}")


def receptacles_in(observation: str) -> list[str]:
    """Receptacle names listed in the opening observation ("... you see a cabinet 2, a drawer 1, ...")."""
    head = observation.split("Your task is to:")[0]
    return _ITEM.findall(head.split("you see", 1)[-1])


def _kind(name: str) -> str:
    return name.rsplit(" ", 1)[0]


def _in_room(names: list[str], kinds: set[str]) -> list[str]:
    """``names`` of the given kinds, in the order the room lists them (a plan a reader can follow)."""
    return [n for n in names if _kind(n) in kinds]


def _holders_of(obj: str) -> set[str]:
    return {r.lower() for r, objs in CAN_CONTAIN.items() if any(o.lower() == obj for o in objs)}


def _listing(names: list[str]) -> str:
    """``a, b, and c``: every place named, so that following the plan is copying the next name."""
    if len(names) < 3:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def teacher(task_type: str, goal: str, first_observation: str) -> Policy:
    """A generator policy: ``next()`` gives the first action, ``send(observation)`` each next one."""
    g = parse_goal(task_type, goal)
    obj, recep, toggle = g.get("obj", ""), g.get("recep", ""), g.get("toggle", "")
    rooms = receptacles_in(first_observation)
    seen: dict[str, list[str]] = {}  # receptacle -> object names last seen there
    here = [""]
    tool_type = TOOL.get(task_type, ("",))[0]
    verb = VERB.get(tool_type, "")
    tool = next(iter(_in_room(rooms, {tool_type.lower()})), "")
    two = task_type == "pick_two_obj_and_place"

    def observe(where: str, text: str) -> None:
        m = _SEEN.search(text)
        if m:
            seen[where] = _ITEM.findall(m.group(2))

    def go(where: str):
        if here[0] == where:
            return
        here[0] = where
        obs = yield f"go to {where}"
        observe(where, obs)
        if f"The {where} is closed" in obs:
            observe(where, (yield f"open {where}"))

    def find(thing: str, kinds: set[str], skip: set[str]):
        """Search until ``thing`` is seen; return (object name, receptacle) or None."""
        for where, items in seen.items():
            hit = [i for i in items if _kind(i) == thing and i not in skip]
            if hit:
                yield f"think: I remember seeing {hit[0]} in/on {where}. I will go back there."
                yield from go(where)
                return hit[0], where
        places = [r for r in _in_room(rooms, kinds) if r not in seen]
        for start in range(0, len(places), PLAN_PLACES):
            batch = places[start : start + PLAN_PLACES]
            if start == 0:
                yield (
                    f"think: First I need to find a {thing}. A {thing} is more likely to appear in {_listing(batch)}. "
                    "I can check one by one."
                )
            else:
                yield f"think: The {thing} is not in those places. Next I can check {_listing(batch)}."
            for where in batch:
                yield from go(where)
                hit = [i for i in seen.get(where, []) if _kind(i) == thing and i not in skip]
                if hit:
                    yield f"think: Now I find a {thing}: {hit[0]}. Next, I need to take it."
                    return hit[0], where
        return None

    plan = f"find and take {'two' if two else 'a'} {obj}"
    if verb:
        plan += f", then {verb} it with {tool}"
    plan += f", then find and use a {toggle}" if toggle else f", then put it in/on a {recep}"
    yield f"think: To solve the task, I need to {plan}."
    placed: set[str] = set()
    for _ in range(2 if two else 1):
        found = yield from find(obj, _holders_of(obj), placed)
        if found is None:
            return
        item, where = found
        yield f"take {item} from {where}"
        seen[where] = [i for i in seen.get(where, []) if i != item]
        if verb:
            yield f"think: Now I take the {item}. Next, I need to go to {tool} and {verb} it."
            yield from go(tool)
            yield f"{verb} {item} with {tool}"
        if toggle:
            yield f"think: Now I take the {item}. Next, I need to find a {toggle}."
            lamp = yield from find(toggle, LAMP_PLACES, set())
            if lamp is not None:
                yield f"use {lamp[0]}"
            return
        target = next(iter(_in_room(rooms, {recep})), None)
        if target is None:
            return
        yield f"think: Now I {verb + 'ed' if verb else 'take'} the {item}. Next, I need to put it in/on {target}."
        yield from go(target)
        yield f"move {item} to {target}"
        placed.add(item)
        if two and len(placed) == 1:
            yield f"think: Now I put the first {obj} in {target}. Next, I need to find the second {obj}."


LAMP_PLACES = {s.lower() for s in LAMP_STANDS} | {k for k in _ORDER if k not in {"fridge", "microwave", "sinkbasin"}}
