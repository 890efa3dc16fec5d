"""A game's ``game.tw-pddl`` file, read and checked: the one reader the environment and the split index share."""

from __future__ import annotations

import json
from pathlib import Path

from a3t.io import A3TError


def load_game_file(path: str | Path) -> dict:
    """Read and check a ``game.tw-pddl`` file; a corrupt one raises naming its path."""
    path = Path(path)
    if not path.is_file():
        raise A3TError(f"{path}: game file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise A3TError(f"{path}: corrupt game file, not JSON ({err})") from err
    missing = [k for k in ("pddl_domain", "grammar", "pddl_problem") if not isinstance(data, dict) or k not in data]
    if missing:
        raise A3TError(f"{path}: corrupt game file, missing {missing}")
    return data
