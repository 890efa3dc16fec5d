"""Exploration benchmark: what each exploration setting buys, in failed training tasks solved per minute.

    python benchmarks/explore_bench.py --results results --round 1 [--shard 1of2] [--configfile OVERLAY.yaml]
        --variant base: --variant samples8:samples=8 --variant stop:samples=8,early_stop=2 \
        --variant resume:samples=4,resume=0.5 [--threads 2] [--out explore_bench.json]

Each variant (``NAME:KEY=VALUE,...``, keys of the config's ``explore`` section) runs the explore stage's CLI as
the workflow would (the settings of config/default.yaml, or of it with ``--configfile``, with the variant's
explore keys) on round k's failed training tasks (``<results>/round<k>/rollouts/train.jsonl``, the
``--shard`` of them) with round k-1's agent, then the filter stage on what it found (with round k-1's
dataset, as the workflow). One row per variant: failed tasks, episodes, successes, tasks solved (pick-two
apart), those solved by resumed samples, the failures the filter keeps as negatives, wall and CPU minutes,
and the last column, tasks solved per wall minute. Run it on an otherwise idle machine: the minutes are the
machine's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from a3t.settings import defaults
from a3t.trajectory import read_trajectories

PICK_TWO = "pick_two_obj_and_place"
AGENT_KEYS = {
    "model": ("merge_for_inference", "actions", "think_limit", "decode_chunk", "quantize", "compute_dtype"),
    "env": ("step_limit",),
    "train": ("max_len",),
    "eval": ("batch_size", "max_new_tokens"),
}


def merged(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_variant(text: str) -> tuple[str, dict]:
    """``samples8:samples=8,early_stop=2`` -> ("samples8", {"samples": 8, "early_stop": 2})."""
    name, _, keys = text.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:KEY=VALUE,...")
    values = {}
    for item in filter(None, keys.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{text!r}: {item!r} is not KEY=VALUE")
        values[key] = yaml.safe_load(value)
    return name, values


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_stage(module: str, args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"explore_bench: {module} failed:\n{proc.stderr[-3000:]}")


def measure(name: str, explore: dict, config: dict, args: argparse.Namespace, scratch: Path) -> dict:
    k, res = args.round, args.results
    rollouts, agent = str(res / f"round{k}" / "rollouts" / "train.jsonl"), str(res / f"round{k - 1}" / "adapter")
    settings = {section: {key: config[section][key] for key in keys} for section, keys in AGENT_KEYS.items()}
    settings["model"]["engine"] = "torch"
    settings |= {"seed": config["seed"], "explore": merged(config["explore"], explore)}
    out = scratch / name / "trajectories.jsonl"
    start, cpu = time.perf_counter(), child_cpu_seconds()
    run_stage("a3t.stages.explore", [
        "--config", json.dumps(settings), "--base", str(res / "base_model"), "--adapter", agent, "--rollouts", rollouts,
        "--games", str(res / "games" / "train" / "manifest.csv"),
        "--shard", args.shard, "--round", str(k), "--out", str(out), "--threads", str(args.threads),
    ])  # fmt: skip
    wall, cpu = time.perf_counter() - start, child_cpu_seconds() - cpu
    filtered = scratch / name / "filtered" / "trajectories.jsonl"
    keep = {"keep_failures": config["filter"]["keep_failures"], "min_successes": config["filter"]["min_successes"]}
    run_stage("a3t.stages.filter", [
        "--config", json.dumps({"filter": keep}), "--rollouts", rollouts, "--explore", str(out),
        "--previous", str(res / f"round{k - 1}" / "dataset" / "trajectories.jsonl"), "--out", str(filtered),
    ])  # fmt: skip
    counts = json.loads((out.parent / "manifest.json").read_text())["counts"]
    trajs = list(read_trajectories(out))
    solved = {t.task_id for t in trajs if t.won}
    negatives = sum(json.loads((filtered.parent / "manifest.json").read_text())["counts"]["failures_per_type"].values())
    return {
        "variant": name,
        "explore": explore,
        "failed_tasks": counts["failed_tasks"],
        "episodes": counts["episodes"],
        "successes": counts["successes"],
        "tasks_solved": len(solved),
        "pick_two_solved": len({t.task_id for t in trajs if t.won and t.task_type == PICK_TWO}),
        "resumed_solved": counts.get("resumed", {}).get("tasks_solved", 0),
        "negatives_kept": negatives,
        "wall_min": round(wall / 60, 2),
        "cpu_min": round(cpu / 60, 2),
        "solved_per_min": round(len(solved) / (wall / 60), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"), help="a run's tree with round k's rollouts")
    p.add_argument("--round", type=int, default=1, help="k >= 1: round k's failed tasks, round k-1's agent")
    p.add_argument("--shard", default="1of1", help="IofN: explore this shard of the failed tasks")
    p.add_argument("--configfile", type=Path, help="an overlay on config/default.yaml, as the run had")
    p.add_argument("--variant", type=parse_variant, action="append", required=True, help="NAME:KEY=VALUE,... (explore keys)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, help="also write the rows here as JSON")
    args = p.parse_args()
    config = merged(defaults(), yaml.safe_load(args.configfile.read_text()) if args.configfile else {})
    rows = []
    with tempfile.TemporaryDirectory(prefix="explore_bench_") as scratch:
        for name, explore in args.variant:
            rows.append(measure(name, explore, config, args, Path(scratch)))
            print(json.dumps(rows[-1]), flush=True)
    columns = [c for c in rows[0] if c != "explore"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
