"""One interface over generated games and real ALFWorld data: a split's ``manifest.csv`` of :class:`Game`."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import alfworld.gen.goal_library as G

from a3t.envs import TASK_TYPES
from a3t.envs.gamefile import load_game_file
from a3t.io import A3TError

MANIFEST_FIELDS = ["task_id", "task_type", "goal", "floorplan", "room", "game_file", "walkthrough_steps"]
_GOAL = re.compile(r"Your task is to: (.*?)\.?\"", re.S)


@dataclass(frozen=True)
class Game:
    task_id: str
    task_type: str
    goal: str
    game_file: str  # absolute path to game.tw-pddl
    floorplan: int = 0
    room: str = ""

    def data(self) -> dict:
        return load_game_file(self.game_file)

    def walkthrough(self) -> list[str]:
        """The shipped walkthrough, or a Fast Downward plan for older files that have none."""
        data = self.data()
        if data.get("walkthrough"):
            return list(data["walkthrough"])
        from a3t.envs.env import planner_walkthrough  # TextWorld's planner, loaded only for files without one

        return planner_walkthrough(self.game_file)


def load_split(manifest: str | Path) -> list[Game]:
    """The games listed in a split's ``manifest.csv`` (paths resolved against its folder)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise A3TError(f"{manifest}: games manifest not found (run the games rule first)")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise A3TError(f"{manifest}: split has zero games")
    games = []
    for lineno, row in enumerate(rows, 2):
        try:
            path = Path(row["game_file"])
            games.append(
                Game(
                    row["task_id"],
                    row["task_type"],
                    row["goal"],
                    str(path if path.is_absolute() else manifest.parent / path),
                    int(row["floorplan"] or 0),
                    row["room"],
                )
            )
        except (KeyError, ValueError, TypeError) as err:
            raise A3TError(f"{manifest}:{lineno}: malformed row ({err!r})") from err
    return games


def _goal_of(data: dict, traj: dict) -> str:
    m = _GOAL.search(data["grammar"])
    if m and "UNKNOWN GOAL" not in m.group(1):
        return m.group(1).strip()
    params = traj.get("pddl_params", {})
    template = G.gdict[traj["task_type"]]["templates"][0]
    return template.format(
        obj=params.get("object_target", "").lower(),
        recep=params.get("parent_target", "").lower(),
        toggle=params.get("toggle_target", "").lower(),
        mrecep=params.get("mrecep_target", "").lower(),
    )


def index_alfworld(data_dir: Path, split: str, task_types: list[str]) -> tuple[list[dict], Counter]:
    """Manifest rows for real ALFWorld games under ``data_dir/<split>/<task>/<trial>/``.

    Skips (and counts) unsolvable games, other task types, movable/sliced variants and trials without a
    game file, as ALFWorld itself does. A game file whose goal is still ``UNKNOWN GOAL`` gets its goal
    written in from ``traj_data.json`` at load time by the environment, like ALFWorld's loader.
    """
    root = data_dir / split if (data_dir / split).is_dir() else data_dir / "json_2.1.1" / split
    if not data_dir.is_dir():
        raise A3TError(
            f"{data_dir}: ALFWorld data directory not found (set games.data_dir or eval.alfworld_data_dir, or $ALFWORLD_DATA)"
        )
    if not root.is_dir():
        raise A3TError(f"{data_dir}: no {split}/ (or json_2.1.1/{split}/) inside")
    rows, skipped = [], Counter()
    for traj_path in sorted(root.glob("*/*/traj_data.json")):
        trial = traj_path.parent
        game_path = trial / "game.tw-pddl"
        traj = _read(traj_path)
        task_type = traj.get("task_type")
        if "movable" in str(trial) or "Sliced" in str(trial):
            skipped["movable_or_sliced"] += 1
        elif task_type not in TASK_TYPES or task_type not in task_types:
            skipped["other_task_type"] += 1
        elif not game_path.is_file():
            skipped["no_game_file"] += 1
        else:
            data = load_game_file(game_path)
            if data.get("solvable") is not True:
                skipped["unsolvable"] += 1
                continue
            floor = str(traj.get("scene", {}).get("floor_plan", "0")).removeprefix("FloorPlan")
            rows.append(
                {
                    "task_id": f"{trial.parent.name}/{trial.name}",
                    "task_type": task_type,
                    "goal": _goal_of(data, traj),
                    "floorplan": int(floor) if floor.isdigit() else 0,
                    "room": "",
                    "game_file": str(game_path.resolve()),
                    "walkthrough_steps": len(data.get("walkthrough") or []),
                }
            )
    return rows, skipped


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise A3TError(f"{path}: corrupt file, not JSON ({err})") from err
