"""Stage ``report``: one row per round, from the files each round wrote.

    python -m a3t.report --rounds results/round0 results/round1 --out results/summary.csv

Columns: train success of the agent that starts the round (its rollouts), failed tasks explored,
successes found per explored task, dataset size (+/-), and single-trial and accumulated success on
each evaluation split. Writes ``summary.csv`` and the same table as Markdown (``summary.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from a3t.io import atomic_write_text, read_json, run_cli


def round_row(d: Path) -> dict:
    """The numbers of one round directory (``results/round<k>``); stages a round lacks are left empty."""
    k = int(d.name.removeprefix("round"))
    row: dict = {"round": k}
    if (d / "rollouts" / "eval.json").is_file():
        row["train_success"] = read_json(d / "rollouts" / "eval.json")["splits"]["train"]["success"]
    if (d / "explore" / "manifest.json").is_file():
        c = read_json(d / "explore" / "manifest.json")["counts"]
        row["explored_tasks"] = c["failed_tasks"]
        row["explore_successes"] = c["successes"]
        row["successes_per_explored_task"] = round(c["successes"] / c["failed_tasks"], 3) if c["failed_tasks"] else 0.0
        row["explored_tasks_solved"] = c["tasks_solved"]
    c = read_json(d / "dataset" / "manifest.json")["counts"]
    row.update(dataset=c["size"], positives=c["positives"], negatives=c["negatives"])
    for split, s in read_json(d / "eval.json")["splits"].items():
        row[f"{split}_success"] = s["success"]
        row[f"{split}_accumulated"] = s["accumulated"]["success"]
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.report", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", required=True, nargs="+", type=Path, help="round directories, in order")
    p.add_argument("--out", required=True, type=Path, help="summary.csv (summary.md is written beside it)")
    args = p.parse_args(argv)
    table = pd.DataFrame([round_row(d) for d in args.rounds])
    atomic_write_text(args.out, table.to_csv(index=False))
    atomic_write_text(args.out.with_suffix(".md"), table.to_markdown(index=False) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    run_cli(main)
