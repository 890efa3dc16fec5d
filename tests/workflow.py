"""Helpers for tests that run the Snakemake workflow in a scratch copy of it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "config" / "tiny.yaml"


def workflow_copy(dst: Path) -> Path:
    """Snakefile, rules, config and report templates copied into ``dst`` (the a3t package stays installed)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "config", "report", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / name)
    return dst


def snakemake_cmd(*args: str) -> list[str]:
    """Two 2-thread jobs side by side: the tiny model's jobs mostly import and wait on env workers (the
    tiny run to round 1: 169 s with --cores 2, 152 s with 4, the same bytes)."""
    return [sys.executable, "-m", "snakemake", "--cores", "4", *args]


def snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(*args), cwd=workdir, capture_output=True, text=True, timeout=1200, env=env)


def planned(
    workdir: Path, target: str, config: dict | None = None, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> dict[str, int]:
    """The jobs ``snakemake -n`` would run for ``target`` (rule -> count), on the tiny config or a changed copy,
    with ``args`` (e.g. ``--config ...``) after it."""
    path = TINY
    if config is not None:
        path = workdir / "changed.yaml"
        path.write_text(yaml.safe_dump(config))
    proc = snakemake(workdir, "-n", target, "--configfile", str(path), *args, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, re.M) if rule != "total"}


def changed_config(section: str, key: str, value) -> dict:
    config = yaml.safe_load(TINY.read_text())
    config[section][key] = value
    return config


EVAL = {"evaluate": 1, "gather_eval": 1}  # a round's evaluation: one shard (shards.count), gathered
ROUND1 = {"filter": 1, "dataset": 1, "train": 1, **EVAL}  # a round's jobs after its exploration
EXPLORE = {"explore": 1, "gather_explore": 1}
ROLLOUT = {"rollout": 1, "gather_rollouts": 1}
EVERYTHING = {"games": 4, "pretrain_corpus": 1, "base_model": 1, "teacher_demos": 1, "dataset_round0": 1} | {
    "train": 2,
    "evaluate": 2,
    "gather_eval": 2,
    **ROLLOUT,
    **EXPLORE,
    "filter": 1,
    "dataset": 1,
}
PLAYED = {"evaluate": 2, "gather_eval": 2, **ROLLOUT, **EXPLORE, "filter": 1, "dataset": 1, "train": 1}
# docs/method.md, "Exact reruns": (config change, target, the jobs it reruns) on the tiny run's tree
CONFIG_CASES = [
    (None, "results/round1/eval.json", {}),  # nothing changed: nothing runs
    (("eval", "batch_size", 3), "results/round0/eval.json", EVAL),
    # round 0 is SFT: failures' weight only reaches rounds >= 1 (train + its evaluation), not rollouts
    (("train", "fail_weight", -0.5), "results/round1/eval.json", {"train": 1, **EVAL}),
    (("train", "warm_start", False), "results/round1/eval.json", {}),  # the key at its default: trees made before it stay
    (("train", "warm_start", True), "results/round1/eval.json", {"train": 1, **EVAL}),  # round 1 continues round 0's
    (("filter", "keep_failures", False), "results/round1/eval.json", ROUND1),
    (("explore", "p_sample", 0.25), "results/round1/eval.json", {**EXPLORE, **ROUND1}),
    (("games", "seed", 1), "results/round1/eval.json", EVERYTHING),
    # the agent's decoding (agent_args): every job that plays, and what learns from their episodes; no training of round 0
    (("model", "think_limit", 2), "results/round1/eval.json", PLAYED),
    (("model", "decode_chunk", 3), "results/round1/eval.json", PLAYED),
    # more round-0 demonstrations: their job, round 0's dataset and everything after it
    (
        ("teacher", "extra_splits", ["pretrain"]),
        "results/round1/eval.json",
        {"teacher_demos_extra": 1, "dataset_round0": 1, **PLAYED, "train": 2},
    ),
]
# (edited a3t module, target, the jobs it reruns): the rules whose CLI imports it, and downstream
CODE_CASES = [
    ("stages/filter.py", "results/round1/eval.json", ROUND1),  # not rollout, explore, round 0, games
    ("stages/report.py", "results/summary.csv", {"report": 1}),
    ("agents/llm.py", "results/round1/eval.json", {**ROLLOUT, **EXPLORE, **ROUND1, "evaluate": 2, "gather_eval": 2}),
    # the typed config: its defaults reach jobs only as config values (CONFIG_CASES), so an edit reruns nothing
    ("settings.py", "results/round1/eval.json", {}),
]


def stage_settings(out: str, stage: str) -> list[dict]:
    """The settings (``--config`` JSON) of each planned job of ``stage`` in a dry run's printed commands."""
    return [json.loads(m) for m in re.findall(rf"a3t\.stages\.{stage}(?: \w+)? --config '([^']*)'", out)]
