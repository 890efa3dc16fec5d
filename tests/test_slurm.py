"""The cluster path executed: the tiny config's rounds 0..1 in 2 shards through a real one-node SLURM
(profiles/slurm/local/cluster.sh: munged, MariaDB, slurmdbd, slurmctld, slurmd on localhost), submitted by
snakemake-executor-plugin-slurm with ``--profile profiles/slurm --profile profiles/slurm/local``.

Run alone: ``make test-slurm`` (CI runs it after ``make test``). Where the daemons cannot start, the module
is skipped with the cluster script's one line, unless ``A3T_REQUIRE_SLURM=1`` (CI's setting): then it fails, so
that a cluster that never started cannot pass as a test that ran."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.workflow import ROOT, TINY, snakemake, workflow_copy

pytestmark = pytest.mark.slurm

CLUSTER = ROOT / "profiles" / "slurm" / "local" / "cluster.sh"
TARGET = "results/round1/eval.json"
CANCELLED_RULE = "train"  # round 0's training is cancelled with scancel while it runs
SHARDS = ("--config", "shards={count: 2}")  # README's form: the jobs that sbatch starts read it again
SACCT_FIELDS = ("JobID", "State", "Partition", "ReqCPUS", "ReqMem", "Timelimit", "ReqTRES", "Comment")
REQUIRE = "A3T_REQUIRE_SLURM"  # "1": a cluster that cannot start fails the module instead of skipping it


@pytest.fixture(scope="module")
def cluster():
    """The local cluster, started for this module and stopped after it (every daemon it started, by pid)."""
    # its own folder (short: the daemons' sockets live there), never a cluster of the user's; A3T_SLURM_TEST_DIR: another
    state = Path(os.environ.get("A3T_SLURM_TEST_DIR") or f"/tmp/a3t-slurm-test-{os.getpid()}")
    env = os.environ | {"A3T_SLURM_DIR": str(state)}
    proc = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        line = (proc.stderr.strip().splitlines() or ["cluster.sh start failed, without a message"])[-1]
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{line} ({REQUIRE}=1: the SLURM tests must run)", pytrace=False)
        pytest.skip(line)
    yield env | {"SLURM_CONF": str(state / "etc" / "slurm.conf")}
    stop = subprocess.run(["bash", str(CLUSTER), "stop"], env=env, capture_output=True, text=True, timeout=300)
    assert stop.returncode == 0, stop.stderr
    shutil.rmtree(state, ignore_errors=True)


def sacct(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the accounting holds (allocations only, not their steps)."""
    cmd = ["sacct", "-X", "-n", "-P", "--starttime", "now-1days", "-o", ",".join(SACCT_FIELDS)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    return [dict(zip(SACCT_FIELDS, line.split("|"), strict=True)) for line in out.splitlines() if line]


def _cancel_while_running(env: dict[str, str], proc: subprocess.Popen, rule: str) -> str | None:
    """scancel the first job of ``rule`` once it has run a second; its SLURM job id (None: it never ran). The
    queue (squeue) tells running jobs and their comments at once; the accounting records them later."""
    while proc.poll() is None:
        queue = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], env=env, capture_output=True, text=True, timeout=60)
        for line in queue.stdout.splitlines():
            job_id, state, comment = line.split("|", 2)
            if comment.startswith(f"rule_{rule}_") and state == "RUNNING":
                time.sleep(1.0)
                subprocess.run(["scancel", job_id], env=env, check=True, timeout=60)
                return job_id
        time.sleep(0.25)
    return None


def run_cancelling(env: dict[str, str], wd: Path, target: str, *args: str) -> tuple[str, str | None]:
    """``target`` through the cluster with the profiles (and ``args``), round 0's training cancelled once it runs;
    Snakemake's log and the cancelled job's id, once the run finished (a run that hangs fails after 25 min)."""
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "--profile", "profiles/slurm/local", target,
           "--configfile", str(TINY), *args]  # fmt: skip
    with open(wd / "run.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=wd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            cancelled = _cancel_while_running(env, proc, CANCELLED_RULE)
            proc.wait(timeout=1500)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = (wd / "run.log").read_text()
    assert proc.returncode == 0, text[-5000:]
    return text, cancelled


@pytest.fixture(scope="module")
def cluster_run(cluster, tmp_path_factory):
    """The tiny config in 2 shards through the cluster, round 0's training cancelled mid-run; then the same
    config run locally, for the byte comparison. (workdir, Snakemake's log, the cancelled job id, sacct's rows,
    the local workdir)"""
    wd = workflow_copy(tmp_path_factory.mktemp("slurm"))
    started = time.monotonic()
    text, cancelled = run_cancelling(cluster, wd, TARGET, *SHARDS)
    wall = time.monotonic() - started
    local = workflow_copy(tmp_path_factory.mktemp("local"))
    done = snakemake(local, TARGET, "--configfile", str(TINY), *SHARDS)
    assert done.returncode == 0, done.stderr[-3000:]
    accounting = sacct(cluster)
    print(f"\ncluster run: {wall:.0f} s, {len(accounting)} SLURM jobs, job {cancelled} ({CANCELLED_RULE}) cancelled")
    return wd, text, cancelled, accounting, local


def submitted(log: str) -> dict[str, dict]:
    """Snakemake's jobs as its log tells them: SLURM job id -> rule, wildcards, threads and resources."""
    jobs, by_jobid = {}, {}
    for block in re.split(r"\n(?=\[.*\d{4}\]\n)", log):
        head = re.search(r"^rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)\n", block, re.M)
        if head:
            fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.M))
            resources = dict(item.split("=", 1) for item in fields["resources"].split(", "))
            by_jobid[head[2]] = {"rule": head[1], "threads": int(fields.get("threads", 1)), "resources": resources,
                                 "wildcards": fields.get("wildcards", "")}  # fmt: skip
        for jobid, slurm_id in re.findall(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", block, re.M):
            jobs[slurm_id] = by_jobid[jobid]
    return jobs


def test_every_job_went_through_sbatch_and_the_accounting(cluster_run):
    """Each job Snakemake planned was submitted with sbatch, and the accounting (sacct, through slurmdbd) lists
    it under its rule; all of them completed but the one cancelled, which was submitted again."""
    wd, log, cancelled, accounting, _ = cluster_run
    jobs = submitted(log)
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", log.split("Job stats:", 1)[1].split("\ntotal", 1)[0], re.M))
    ran = Counter(job["rule"] for job in jobs.values())
    ran[CANCELLED_RULE] -= 1  # submitted twice
    assert ran == {rule: int(n) for rule, n in planned.items()}
    assert {row["JobID"] for row in accounting} == set(jobs)
    for row in accounting:
        assert row["Comment"].startswith(f"rule_{jobs[row['JobID']]['rule']}"), row
        assert row["State"].startswith("CANCELLED") if row["JobID"] == cancelled else row["State"] == "COMPLETED", row
    assert len(jobs) >= 25 and (wd / TARGET).is_file()


def assert_resubmitted(log: str, cancelled: str | None, accounting: list[dict[str, str]]) -> None:
    """The cancelled training was seen as CANCELLED, submitted again (the profile's ``retries: 1``), and completed."""
    assert cancelled is not None, "round 0's training never ran"
    jobs = submitted(log)
    same = [slurm_id for slurm_id, job in jobs.items() if job["rule"] == CANCELLED_RULE and job["wildcards"] == "round=0"]
    assert len(same) == 2 and cancelled == min(same, key=int)
    states = {row["JobID"]: row["State"] for row in accounting}
    assert states[cancelled].startswith("CANCELLED by ") and states[max(same, key=int)] == "COMPLETED"
    assert re.search(rf"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'", log)


def test_a_cancelled_job_is_submitted_again(cluster_run):
    """scancel on a running job: sacct (the profile's status command) says 'CANCELLED by <uid>', which the workflow
    reads as CANCELLED (a3t.slurm; the plugin alone would wait forever); with ``retries: 1`` the job is submitted
    again and the run finishes. The run's first lines say how states are read."""
    _, log, cancelled, accounting, _ = cluster_run
    assert "a3t: SLURM job states from sacct, 'CANCELLED by <uid>' read as CANCELLED (MinJobAge 300 s)" in log
    assert_resubmitted(log, cancelled, accounting)


def _result_files(results: Path) -> dict[str, bytes]:
    """Every file of the tree but the records of how a job ran (logs, wall times, hosts, signatures)."""
    skip = ("logs", "benchmarks", "signatures")
    return {
        p.relative_to(results).as_posix(): p.read_bytes()
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in skip and p.name not in ("manifest.json", "train_log.json")
    }


def test_the_cluster_tree_is_byte_identical_to_a_local_run(cluster_run):
    """Games, trajectories, datasets, eval.json files and adapter weights: the same bytes as the same config run
    with the local executor, the cancelled training included."""
    wd, _, _, _, local = cluster_run
    mine, theirs = _result_files(wd / "results"), _result_files(local / "results")
    assert sorted(mine) == sorted(theirs)
    assert [name for name in mine if mine[name] != theirs[name]] == []
    assert any(name.endswith("adapter_model.safetensors") for name in mine) and "round1/eval.json" in mine


def _minutes(timelimit: str) -> int:
    days, _, clock = timelimit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def test_jobs_were_given_the_profiles_resources(cluster_run):
    """Each SLURM job got what the profile asks for its rule (overlay over profiles/slurm): partition, CPUs
    (cpus_per_task, else the rule's threads), memory, runtime, and the GPU of the GPU rules."""
    _, log, _, accounting, _ = cluster_run
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    profile |= yaml.safe_load((ROOT / "profiles" / "slurm" / "local" / "config.yaml").read_text())  # top-level keys
    jobs = submitted(log)
    for row in accounting:
        job = jobs[row["JobID"]]
        asked = {**profile["default-resources"], **profile["set-resources"].get(job["rule"], {})}
        given = job["resources"]
        assert job["threads"] == profile["set-threads"].get(job["rule"], job["threads"]), job["rule"]
        for key in ("slurm_partition", "runtime"):
            assert str(asked[key]) == given[key], (job["rule"], key)
        if job["rule"] in profile["set-resources"]:
            assert str(asked["mem_mb"]) == given["mem_mb"], job["rule"]
        cpus = int(given.get("cpus_per_task", job["threads"]))
        assert row["Partition"] == given["slurm_partition"], (job["rule"], row)
        assert int(row["ReqCPUS"]) == cpus and cpus >= job["threads"], (job["rule"], row)
        assert row["ReqMem"] == f"{given['mem_mb']}M", (job["rule"], row)
        assert _minutes(row["Timelimit"]) == int(given["runtime"]), (job["rule"], row)
        assert ("gres/gpu=1" in row["ReqTRES"]) == ("gpu" in asked), (job["rule"], row)


def set_min_job_age(env: dict[str, str], seconds: int) -> None:
    """The running cluster's MinJobAge, changed in its slurm.conf and read again by slurmctld (scontrol reconfigure)."""
    conf = Path(env["SLURM_CONF"])
    conf.write_text(re.sub(r"^MinJobAge=\d+$", f"MinJobAge={seconds}", conf.read_text(), flags=re.M))
    subprocess.run(["scontrol", "reconfigure"], env=env, check=True, capture_output=True, timeout=60)
    for _ in range(120):
        shown = subprocess.run(["scontrol", "show", "config"], env=env, capture_output=True, text=True, timeout=60).stdout
        if re.search(rf"^MinJobAge\s*=\s*{seconds} sec", shown, re.M):
            return
        time.sleep(0.5)
    raise AssertionError(f"MinJobAge did not become {seconds} s")


def test_a_cancelled_job_is_submitted_again_on_a_short_min_job_age(cluster, cluster_run, tmp_path):
    """A cluster that forgets ended jobs after 60 s, and a first status check after 25 s: the plugin, told to ask
    squeue, goes back to sacct (MinJobAge < 3 x 25 s), where the profile's squeue used to hang on the cancelled job.
    Round 0's training is cancelled again; the run sees it, submits it again and finishes."""
    set_min_job_age(cluster, 60)
    try:
        wd = workflow_copy(tmp_path / "short")
        args = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "25")
        log, cancelled = run_cancelling(cluster, wd, "results/round0/adapter", *args)
    finally:
        set_min_job_age(cluster, 300)
    assert "Falling back to 'sacct' for status queries (MinJobAge=60; threshold=75s)" in log
    assert "a3t: SLURM job states from sacct (the plugin's fallback from squeue: MinJobAge 60 s < 3 x 25 s)" in log
    assert_resubmitted(log, cancelled, [row for row in sacct(cluster) if row["JobID"] in submitted(log)])
    assert (wd / "results" / "round0" / "adapter" / "adapter_model.safetensors").is_file()
