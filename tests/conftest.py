"""Shared fixtures: tiny generated game splits, and the tiny workflow run, each made once per test session."""

from __future__ import annotations

import pytest

from a3t.envs import TASK_TYPES
from a3t.stages.games import generate_split
from tests.workflow import TINY, snakemake, workflow_copy

UNSEEN = [10, 219, 308, 424]


@pytest.fixture(scope="session")
def games_dir(tmp_path_factory):
    """One game of every task type, train floorplans, seed 0 (small scenes keep the planner fast)."""
    out = tmp_path_factory.mktemp("games") / "train"
    generate_split(out, "train", {t: 1 for t in TASK_TYPES}, seed=0, unseen=UNSEEN, distractors=2, max_instances=2)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole DAG (rounds 0..1) on tests/config/tiny.yaml, in a scratch copy of the workflow."""
    wd = workflow_copy(tmp_path_factory.mktemp("wf"))
    proc = snakemake(wd, "results/round1/eval.json", "--configfile", str(TINY))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return wd


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (``--dist loadgroup``): every test of the tiny run on one worker, in file order, so
    that the run is made once, and the other tests by file, so that a file's module fixtures are made once."""
    for item in items:
        group = "tiny_run" if "tiny_run" in item.fixturenames else item.path.stem
        item.add_marker(pytest.mark.xdist_group(group))
