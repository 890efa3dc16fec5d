"""Write ALFWorld PDDL problems and ``game.tw-pddl`` files for a sampled scene state."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import alfworld.gen.constants as C
import alfworld.gen.goal_library as G

from a3t.envs.scenes import CAN_CONTAIN, PICKUPABLE, STATIC_RECEPTACLES, Receptacle

OTYPES = sorted(set(C.OBJECTS_SET) - STATIC_RECEPTACLES)
RTYPES = sorted(STATIC_RECEPTACLES)
_MANGLE = {"-": "_minus_", "|": "_bar_", "+": "_plus_", ".": "_dot_", ",": "_comma_"}


def mangle(name: str) -> str:
    """AI2-THOR id -> PDDL identifier, as ALFWorld does (``Apple|+00.1`` -> ``Apple_bar__plus_00_dot_1``)."""
    return "".join(_MANGLE.get(ch, ch) for ch in name)


def domain_text() -> str:
    return (resources.files("alfworld") / "data" / "alfred.pddl").read_text()


def grammar_text() -> str:
    return (resources.files("alfworld") / "data" / "alfred.twl2").read_text()


@dataclass
class SceneState:
    """A concrete initial state: receptacles, objects placed in them, and the goal."""

    receptacles: list[Receptacle]
    objects: list[tuple[str, str, str]] = field(default_factory=list)  # (object id, type, receptacle id)
    task_type: str = "pick_and_place_simple"
    obj: str = ""
    recep: str = ""
    toggle: str = ""

    def goal(self) -> str:
        text = G.gdict[self.task_type]["pddl"].format(obj=self.obj, recep=self.recep, toggle=self.toggle, mrecep="")
        text = text.replace("#", "-").strip()
        return text[: text.rfind(")")].rstrip()  # the library's goals close the (define too


def location(r: Receptacle) -> str:
    x, z, rot, hor = r.pose
    return f"loc|{x}|{z}|{rot}|{hor}"


def problem_text(state: SceneState, name: str) -> str:
    """The PDDL problem for ``state`` (ids mangled, every type constant declared)."""
    locs = {}
    for r in state.receptacles:  # one location per receptacle so "go to X" names one thing
        loc = location(r)
        while loc in locs.values():
            loc += "|1"
        locs[r.id] = loc
    start = "loc|start|0|0|0"
    objs = ["agent1 - agent"]
    objs += [f"{t}Type - otype" for t in OTYPES] + [f"{t}Type - rtype" for t in RTYPES]
    objs += [f"{mangle(r.id)} - receptacle" for r in state.receptacles]
    objs += [f"{mangle(o)} - object" for o, _, _ in state.objects]
    objs += [f"{mangle(loc)} - location" for loc in [start, *locs.values()]]
    init = ["(= (total-cost) 0)", f"(atLocation agent1 {mangle(start)})"]
    for r in state.receptacles:
        init.append(f"(receptacleType {mangle(r.id)} {r.type}Type)")
        init.append(f"(receptacleAtLocation {mangle(r.id)} {mangle(locs[r.id])})")
        if r.type in C.OPENABLE_CLASS_SET:
            init.append(f"(openable {mangle(r.id)})")
    for oid, otype, rid in state.objects:
        o = mangle(oid)
        init += [f"(objectType {o} {otype}Type)", f"(inReceptacle {o} {mangle(rid)})"]
        init.append(f"(objectAtLocation {o} {mangle(locs[rid])})")
        if otype in PICKUPABLE:
            init.append(f"(pickupable {o})")
        for pred, cls in (
            ("cleanable", "Cleanable"),
            ("heatable", "Heatable"),
            ("coolable", "Coolable"),
            ("toggleable", "Toggleable"),
        ):
            if otype in C.VAL_ACTION_OBJECTS[cls]:
                init.append(f"({pred} {o})")
    for r in sorted({r.type for r in state.receptacles}):
        init += [f"(canContain {r}Type {o}Type)" for o in sorted(CAN_CONTAIN.get(r, ()))]
    body = "\n        ".join
    return (
        f"(define (problem {name})\n    (:domain alfred)\n    (:objects\n        {body(objs)}\n    )\n"
        f"    (:init\n        {body(init)}\n    )\n    {state.goal()}\n"
        "    (:metric minimize (total-cost))\n)\n"
    )


def game_data(problem: str, goal_text: str, walkthrough: list[str] | None) -> dict:
    """The ``game.tw-pddl`` JSON content, with the goal text written into the grammar."""
    data = {
        "pddl_domain": domain_text(),
        "grammar": grammar_text().replace("UNKNOWN GOAL", goal_text),
        "pddl_problem": problem,
        "solvable": walkthrough is not None,
    }
    if walkthrough is not None:
        data["walkthrough"] = walkthrough
    return data
