"""Sample ALFWorld tasks from the scene layouts the ``alfworld`` package ships.

A draw picks a floorplan valid for the task type, a target (object, receptacle or lamp)
the scene supports, and random placements for the target and some distractor objects.
Each draw is planned with Fast Downward (through TextWorld) and its plan replayed to a win;
draws that cannot be solved are discarded and counted.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import alfworld.gen.constants as C
import alfworld.gen.goal_library as G

from a3t.envs.pddl import SceneState, game_data, mangle, problem_text
from a3t.envs.scenes import CAN_CONTAIN, Scene, load_scene

# Which appliance a task type needs, besides the goal receptacle.
TOOL = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "Coolable"),
}
LAMP_STANDS = ("Desk", "SideTable", "Dresser", "Shelf", "DiningTable", "CoffeeTable", "TVStand", "Cart")


@dataclass(frozen=True)
class Task:
    """What a generated game is about (written beside it as ``task.json``)."""

    task_id: str
    task_type: str
    goal: str
    floorplan: int
    room: str
    object_target: str
    parent_target: str
    toggle_target: str


class Unsolvable(Exception):
    """The draw has no plan, or its plan does not win."""


def _object_id(otype: str, rng: random.Random, used: set[str]) -> str:
    while True:
        oid = f"{otype}|{rng.uniform(-3, 3):+06.2f}|{rng.uniform(0, 2):+06.2f}|{rng.uniform(-3, 3):+06.2f}"
        if oid not in used:
            used.add(oid)
            return oid


def _holders(scene: Scene, otype: str, exclude: str = "") -> list:
    return [r for r in scene.receptacles if otype in CAN_CONTAIN.get(r.type, ()) and r.type != exclude]


def _targets(scene: Scene, task_type: str) -> list[tuple[str, str, str]]:
    """Every (object, receptacle, lamp) target this scene supports for ``task_type``."""
    rtypes = scene.receptacle_types()
    out = []
    if task_type == "look_at_obj_in_light":
        if not any(r.type in LAMP_STANDS or r.type not in C.OPENABLE_CLASS_SET for r in scene.receptacles):
            return []
        return [(o, "", t) for t in scene.toggle_types for o in scene.object_types if _holders(scene, o)]
    tool = TOOL.get(task_type)
    if tool and tool[0] not in rtypes:
        return []
    for o in scene.object_types:
        if tool and o not in C.VAL_ACTION_OBJECTS[tool[1]]:
            continue
        for r in sorted(rtypes):
            if o in CAN_CONTAIN.get(r, ()) and r != (tool[0] if tool else "") and _holders(scene, o, exclude=r):
                out.append((o, r, ""))
    return out


def floorplans_for(task_type: str, candidates: list[int]) -> list[int]:
    rooms = C.GOALS_VALID[task_type]
    return [fp for fp in candidates if load_scene(fp).room in rooms and _targets(load_scene(fp), task_type)]


def sample_state(scene: Scene, task_type: str, rng: random.Random, distractors: int, max_instances: int) -> SceneState:
    """Draw a target and random placements for it, distractors and lamps."""
    obj, recep, toggle = rng.choice(_targets(scene, task_type))
    used: set[str] = set()
    objects = []
    low = 2 if task_type == "pick_two_obj_and_place" else 1
    for _ in range(rng.randint(low, max(low, max_instances))):
        objects.append((_object_id(obj, rng, used), obj, rng.choice(_holders(scene, obj, exclude=recep)).id))
    others = [o for o in scene.object_types if o != obj and _holders(scene, o, exclude=recep)]
    for otype in rng.sample(others, min(distractors, len(others))):
        for _ in range(rng.randint(1, 2)):
            objects.append((_object_id(otype, rng, used), otype, rng.choice(_holders(scene, otype)).id))
    stands = [r for r in scene.receptacles if r.type in LAMP_STANDS] or [
        r for r in scene.receptacles if r.type not in C.OPENABLE_CLASS_SET
    ]
    for lamp in scene.toggle_types:
        objects.append((_object_id(lamp, rng, used), lamp, rng.choice(stands).id))
    return SceneState(list(scene.receptacles), objects, task_type, obj, recep, toggle)


def goal_text(state: SceneState, rng: random.Random) -> str:
    template = rng.choice(G.gdict[state.task_type]["templates"])
    return template.format(obj=state.obj.lower(), recep=state.recep.lower(), toggle=state.toggle.lower(), mrecep="")


def expert_plan(state: SceneState) -> list[tuple[str, ...]]:
    """The expert's symbolic plan for ``state``: (verb, ids...) steps, no planner needed."""
    openable = {r.id for r in state.receptacles if r.type in C.OPENABLE_CLASS_SET}
    opened: set[str] = set()
    plan: list[tuple[str, ...]] = []
    here = [""]

    def go(rid: str) -> None:
        if here[0] != rid:  # "go to" where the agent stands is not admissible
            plan.append(("go to", rid))
            here[0] = rid

    def visit(rid: str) -> None:
        go(rid)
        if rid in openable and rid not in opened:
            plan.append(("open", rid))
            opened.add(rid)

    targets = [(o, r) for o, t, r in state.objects if t == state.obj]
    goal = next((r.id for r in state.receptacles if r.type == state.recep), "")
    tool = next((r.id for r in state.receptacles if r.type == TOOL.get(state.task_type, ("",))[0]), "")
    n = 2 if state.task_type == "pick_two_obj_and_place" else 1
    for oid, rid in targets[:n]:
        visit(rid)
        plan.append(("take", oid, rid))
        if state.task_type == "look_at_obj_in_light":
            lamp, stand = next((o, r) for o, t, r in state.objects if t == state.toggle)
            go(stand)
            plan.append(("use", lamp))
            break
        if tool:
            verb = {"SinkBasin": "clean", "Microwave": "heat", "Fridge": "cool"}[TOOL[state.task_type][0]]
            go(tool)
            plan.append((verb, oid, tool))
        visit(goal)
        plan.append(("move", oid, goal))
    return plan


def plan_commands(plan: list[tuple[str, ...]], names: dict[str, str]) -> list[str]:
    """Render a symbolic plan with the game's display names (``cabinet 3``)."""

    def n(thor_id: str) -> str:
        return names[mangle(thor_id).lower()]

    out = []
    for verb, *ids in plan:
        if verb in ("go to", "open", "use"):
            out.append(f"{verb} {n(ids[0])}")
        elif verb == "take":
            out.append(f"take {n(ids[0])} from {n(ids[1])}")
        elif verb == "move":
            out.append(f"move {n(ids[0])} to {n(ids[1])}")
        else:
            out.append(f"{verb} {n(ids[0])} with {n(ids[1])}")
    return out


def draw_game(env, task_type: str, floorplan: int, rng: random.Random, draw: int, distractors: int, max_instances: int):
    """Sample one game and verify it; return ``(Task, game.tw-pddl dict)`` or raise :class:`Unsolvable`.

    ``env`` is a :class:`~a3t.envs.env.GameEnv` used to replay the walkthrough to a win.
    """
    from a3t.envs.env import replay

    scene = load_scene(floorplan)
    state = sample_state(scene, task_type, rng, distractors, max_instances)
    goal = goal_text(state, rng)
    task_id = f"{task_type}-{state.obj}-{state.recep or state.toggle}-{floorplan}-d{draw:04d}"
    data = game_data(problem_text(state, f"plan_{draw}"), goal, None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "game.tw-pddl"
        path.write_text(json.dumps(data))
        try:
            first = env.reset(path)
            if first.won:
                raise Unsolvable("goal already satisfied at start")
            walkthrough = plan_commands(expert_plan(state), env.names)
            if not replay(env, path, walkthrough):
                raise Unsolvable("walkthrough does not win")
        finally:
            env.close()
    data["walkthrough"], data["solvable"] = walkthrough, True
    task = Task(task_id, task_type, goal, floorplan, scene.room, state.obj, state.recep, state.toggle)
    return task, data


def task_dict(task: Task) -> dict:
    return asdict(task)
