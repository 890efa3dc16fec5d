"""Scene layouts shipped inside the ``alfworld`` package (no download needed).

Each AI2-THOR floorplan ships ``FloorPlan<N>-objects.json`` (the object types present)
and ``FloorPlan<N>-openable.json`` (receptacle ids with the pose the agent interacts from).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

import alfworld.gen.constants as C

ROOM_TYPES = {"Kitchen": range(1, 31), "LivingRoom": range(201, 231), "Bedroom": range(301, 331), "Bathroom": range(401, 431)}
TOGGLES = ("DeskLamp", "FloorLamp")
# Appliances AI2-THOR has as receptacles but the layouts list only as object types.
EXTRA_RECEPTACLES = {"StoveBurner": 4, "CoffeeMachine": 1, "Toaster": 1}
STATIC_RECEPTACLES = frozenset(C.RECEPTACLES) - C.MOVABLE_RECEPTACLES_SET
# Everything that can be placed in some receptacle can be picked up.
PICKUPABLE = frozenset(set().union(*C.VAL_RECEPTACLE_OBJECTS.values())) & frozenset(C.OBJECTS_SET)
CAN_CONTAIN = {r: frozenset(objs) & PICKUPABLE for r, objs in C.VAL_RECEPTACLE_OBJECTS.items() if r in STATIC_RECEPTACLES}


@dataclass(frozen=True)
class Receptacle:
    id: str  # AI2-THOR id, e.g. "Cabinet|+00.68|+00.50|-02.20"
    type: str  # e.g. "Cabinet"
    pose: tuple[int, int, int, int]  # grid x, grid z, rotation, horizon


@dataclass(frozen=True)
class Scene:
    floorplan: int
    room: str
    receptacles: tuple[Receptacle, ...]
    object_types: tuple[str, ...]  # pickupable object types present
    toggle_types: tuple[str, ...]  # lamps present

    def receptacle_types(self) -> set[str]:
        return {r.type for r in self.receptacles}


def room_of(floorplan: int) -> str:
    for room, numbers in ROOM_TYPES.items():
        if floorplan in numbers:
            return room
    raise ValueError(f"floorplan {floorplan} belongs to no room type")


def _layouts():
    return resources.files("alfworld.gen") / "layouts"


@functools.cache
def floorplans() -> tuple[int, ...]:
    """All floorplan numbers that ship both an objects and an openable file."""
    names = {p.name for p in _layouts().iterdir()}
    nums = {int(m.group(1)) for n in names if (m := re.fullmatch(r"FloorPlan(\d+)-objects\.json", n))}
    return tuple(sorted(n for n in nums if f"FloorPlan{n}-openable.json" in names))


def _receptacle_type(rid: str) -> str:
    parts = rid.split("|")
    return parts[-1] if len(parts) > 4 else parts[0]


@functools.cache
def load_scene(floorplan: int) -> Scene:
    base = _layouts()
    types = json.loads((base / f"FloorPlan{floorplan}-objects.json").read_text())
    openable = json.loads((base / f"FloorPlan{floorplan}-openable.json").read_text())
    canon = {t.lower(): t for t in C.OBJECTS_SET}
    present = sorted({canon[t.lower()] for t in types if t.lower() in canon})
    receps = []
    for rid, (x, z, rot, hor) in sorted(openable.items()):
        rtype = _receptacle_type(rid)
        if rtype in STATIC_RECEPTACLES:
            receps.append(Receptacle(rid, rtype, (round(x / 0.25), round(z / 0.25), int(rot), int(hor))))
    have = {r.type for r in receps}
    for k, (rtype, count) in enumerate(sorted(EXTRA_RECEPTACLES.items())):
        if rtype in present and rtype not in have:
            for i in range(count):
                rid = f"{rtype}|{k:+06.2f}|+00.90|{i:+06.2f}"
                receps.append(Receptacle(rid, rtype, (k, i, 90 * (i % 4), 30)))
    return Scene(
        floorplan=floorplan,
        room=room_of(floorplan),
        receptacles=tuple(receps),
        object_types=tuple(t for t in present if t in PICKUPABLE),
        toggle_types=tuple(t for t in present if t in TOGGLES),
    )
