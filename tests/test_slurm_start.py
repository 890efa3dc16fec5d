"""A SLURM test whose cluster cannot start: skipped for a user (one line), failed under CI's ``A3T_REQUIRE_SLURM=1``.
The start is made to fail at once: the cluster's folder exists and was not made by cluster.sh."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.workflow import ROOT


@pytest.mark.parametrize("required", [False, True])
def test_a_cluster_that_cannot_start_skips_for_a_user_and_fails_under_ci(tmp_path, required):
    foreign = tmp_path / "not-a-cluster"
    foreign.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "A3T_REQUIRE_SLURM"} | {"A3T_SLURM_TEST_DIR": str(foreign)}
    if required:
        env["A3T_REQUIRE_SLURM"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", "slurm", "-rs",
           "tests/test_slurm.py::test_a_cancelled_job_is_submitted_again"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert f"cannot start: {foreign} exists and was not made by this script" in out, out[-2000:]
    if required:
        assert proc.returncode == 1 and "1 error" in out and "A3T_REQUIRE_SLURM=1: the SLURM tests must run" in out
    else:
        assert proc.returncode == 0 and "1 skipped" in out


def test_the_plugins_status_query_reads_cancelled_by_uid_as_cancelled(monkeypatch):
    """sacct's 'CANCELLED by 0' is in none of the plugin's state lists (it would wait for the job forever); through
    a3t.slurm its status query returns CANCELLED, whatever command it runs, and the other states as they were."""
    import asyncio
    import logging

    import snakemake_executor_plugin_slurm as plugin

    from a3t.slurm import PATCHED, read_states_whole

    monkeypatch.setattr(plugin, "query_job_status", plugin.query_job_status)  # restored after the test
    command = "printf '9|CANCELLED by 0\\n10|COMPLETED\\n11|RUNNING\\n'"
    before, _ = asyncio.run(plugin.query_job_status(command, logging.getLogger("test")))
    assert before == {"9": "CANCELLED by 0", "10": "COMPLETED", "11": "RUNNING"}
    assert read_states_whole(plugin) and read_states_whole(plugin)
    assert not getattr(plugin.query_job_status.__wrapped__, PATCHED, False)  # wrapped once, however often asked
    after, seconds = asyncio.run(plugin.query_job_status(command, logging.getLogger("test")))
    assert after == {"9": "CANCELLED", "10": "COMPLETED", "11": "RUNNING"} and seconds >= 0
    failed, _ = asyncio.run(plugin.query_job_status("false", logging.getLogger("test")))
    assert failed is None  # a query that failed stays a failure


def test_a_plugin_without_the_status_query_is_left_alone():
    import types

    from a3t.slurm import read_states_whole

    assert read_states_whole(types.SimpleNamespace()) is False
