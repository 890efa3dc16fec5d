"""Shared fixtures: tiny generated game splits, and the tiny workflow run, each made once per test session."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from a3t.envs import TASK_TYPES
from a3t.stages.games import generate_split
from tests.workflow import TINY, snakemake, workflow_copy

UNSEEN = [10, 219, 308, 424]


def pytest_configure(config):
    """OpenMP threads that sleep when idle: the two workers' torch threads, and their jobs', share 2 cores (the
    workflow sets the same for its jobs, rules/common.smk). Before any test module imports torch."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def games_dir(tmp_path_factory):
    """One game of every task type, train floorplans, seed 0 (small scenes keep the planner fast)."""
    out = tmp_path_factory.mktemp("games") / "train"
    generate_split(out, "train", {t: 1 for t in TASK_TYPES}, seed=0, unseen=UNSEEN, distractors=2, max_instances=2)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole DAG (rounds 0..1) on tests/config/tiny.yaml, in a scratch copy of the workflow. Under
    pytest-xdist it is made once per session, by the first worker that asks, in the session's folder above
    the workers' own; the other worker waits on a lock and reads the same tree (xdist's recipe for a
    session fixture made once)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _make_tiny_run(tmp_path_factory.mktemp("wf"))
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "tiny_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = shared / "tiny_run.done"
        if not done.exists():
            try:
                _make_tiny_run(shared / "tiny_run")
                done.write_text("")
            except Exception as err:  # the other worker fails with the same message, without a second run
                done.write_text(f"the tiny run failed: {err!r}")
                raise
        if failure := done.read_text():
            pytest.fail(failure)
    return shared / "tiny_run"


def _make_tiny_run(wd: Path) -> Path:
    workflow_copy(wd)
    proc = snakemake(wd, "results/round1/eval.json", "--configfile", str(TINY))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return wd


# Tests that only read the tiny run, each file a unit that either worker may take, the longest first; they come
# last, so that the run is made by the time they start (SmolLM2's run alone takes longer than the tiny run).
# The tiny run's other tests extend or edit its tree: one unit, in file order, on the worker that makes the run.
TINY_RUN_READERS = ("test_sharing", "test_dagger", "test_shards", "test_reliability")


def _group(item: pytest.Item) -> str:
    uses_tiny_run = "tiny_run" in item.fixturenames and item.path.stem not in TINY_RUN_READERS
    return "tiny_run" if uses_tiny_run else item.path.stem


def _rank(group: str) -> int:
    """The order in which the workers take the units: the tiny run, SmolLM2's run beside it, the rest, the readers."""
    if group in TINY_RUN_READERS:
        return 3 + TINY_RUN_READERS.index(group)
    return {"tiny_run": 0, "test_smollm2": 1}.get(group, 2)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (``--dist loadgroup --no-loadscope-reorder``): a unit of work per group, taken in the
    order of ``_rank`` (a stable sort: file order within a group)."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    items.sort(key=lambda item: _rank(_group(item)))
