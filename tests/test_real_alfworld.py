"""Real ALFWorld games (``../shared/alfworld``: the lab's copy of json_2.1.1, absent from a user's clone, so
every test here skips without it): indexed, and played by the scripted teacher in their older wording."""

from __future__ import annotations

from collections import Counter

import pytest

from a3t.envs import TASK_TYPES
from a3t.envs.env import GameEnv
from a3t.envs.games import index_alfworld, load_split
from a3t.stages.demos import play
from a3t.stages.games import index_split
from tests.workflow import ROOT

SHARED = ROOT.parent / "shared" / "alfworld"
pytestmark = pytest.mark.skipif(not (SHARED / "json_2.1.1" / "valid_seen").is_dir(), reason=f"{SHARED} absent")


def test_official_valid_seen_indexes_its_140_games():
    rows, skipped = index_alfworld(SHARED, "valid_seen", list(TASK_TYPES))
    assert len(rows) == 140 and not skipped
    assert Counter(r["task_type"] for r in rows) == {
        "pick_and_place_simple": 35,
        "look_at_obj_in_light": 13,
        "pick_clean_then_place_in_recep": 27,
        "pick_heat_then_place_in_recep": 16,
        "pick_cool_then_place_in_recep": 25,
        "pick_two_obj_and_place": 24,
    }


def test_the_scripted_teacher_wins_real_games_in_their_wording(tmp_path):
    index_split(tmp_path, "valid_seen", SHARED, list(TASK_TYPES), {t: 1 for t in TASK_TYPES}, seed=0)
    trajs = play(load_split(tmp_path / "manifest.csv"), ["teacher"], seed=0, workers=2, split="alfworld_valid_seen")
    assert sorted(t.task_type for t in trajs) == sorted(TASK_TYPES)
    assert all(t.won for t in trajs)  # one game of each type, seed 0: all six won (measured 2026-11-30)
    observations = [s.observation for t in trajs for s in t.steps]
    assert any(o.startswith("You arrive at loc ") for o in observations)  # the older release's wording
    game = next(g for g in load_split(tmp_path / "manifest.csv") if g.task_type == "pick_and_place_simple")
    won = next(t for t in trajs if t.task_type == game.task_type)
    env = GameEnv(step_limit=50)
    try:  # replay the teacher's episode: where it placed the object, the older game offered put, not move
        result, offered = env.reset(game.game_file, game.goal), []
        for step in won.steps:
            if step.action.startswith("move "):
                offered = [c.split(" ")[0] for c in result.admissible if c.startswith(("put ", "move "))]
            result = env.step(step.action)
    finally:
        env.close()
    assert result.won and offered and set(offered) == {"put"}
