"""Shared fixtures: tiny generated game splits, made once per test session."""

from __future__ import annotations

import pytest

from a3t.envs import TASK_TYPES
from a3t.games import generate_split

UNSEEN = [10, 219, 308, 424]


@pytest.fixture(scope="session")
def games_dir(tmp_path_factory):
    """One game of every task type, train floorplans, seed 0 (small scenes keep the planner fast)."""
    out = tmp_path_factory.mktemp("games") / "train"
    generate_split(out, "train", {t: 1 for t in TASK_TYPES}, seed=0, unseen=UNSEEN, distractors=2, max_instances=2)
    return out
