"""Print trajectories readably: thoughts, actions, observations, who wrote each step, the reward.

    a3t show results/round1/explore/trajectories.jsonl [--task ID] [--won | --failed] [--limit N]

Each step is marked by its source: ``agent`` (the policy), ``teacher``/``expert`` (demonstrations),
``sampled`` (an action drawn from the admissible commands during exploration) and ``ActRe`` (the
reason ActRe wrote for the sampled action that follows it).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from a3t.io import A3TError, run_cli
from a3t.trajectory import Trajectory, read_trajectories

MARKS = {"policy": "agent", "teacher": "teacher", "expert": "expert", "sampled": "sampled", "actre": "ActRe"}


def render(t: Trajectory, width: int = 100) -> str:
    """One trajectory as text."""
    outcome = f"WON in {len(t.steps)} steps" if t.won else f"failed after {len(t.steps)} steps"
    where = f"{t.split}, round {t.round}, {t.origin}, sample {t.sample}"
    head = f"== {t.task_id} [{t.task_type}] {where}: {outcome}, reward {t.reward:g}"
    lines = [head, textwrap.fill(t.initial_observation.replace("\n\n", " | "), width, subsequent_indent="   ")]
    for i, s in enumerate(t.steps, 1):
        mark = MARKS.get(s.source, s.source)
        lines.append(textwrap.fill(f"{i:3d} {mark:>8s} > {s.action}", width, subsequent_indent=" " * 15))
        if not s.is_thought:
            lines.append(textwrap.fill(s.observation, width, initial_indent=" " * 15, subsequent_indent=" " * 15))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="a3t show", description=__doc__.splitlines()[0])
    p.add_argument("file", type=Path, help="a trajectories JSONL file")
    p.add_argument("--task", help="only this task id (or a prefix of it)")
    outcome = p.add_mutually_exclusive_group()
    outcome.add_argument("--won", action="store_true", help="only successes")
    outcome.add_argument("--failed", action="store_true", help="only failures")
    p.add_argument("--limit", type=int, default=0, help="at most this many trajectories (0: all)")
    args = p.parse_args(argv)
    if not args.file.is_file():
        raise A3TError(f"{args.file}: no such file")
    shown = 0
    for t in read_trajectories(args.file):
        if (args.task and not t.task_id.startswith(args.task)) or (args.won and not t.won) or (args.failed and t.won):
            continue
        try:
            print(render(t), end="\n\n", flush=True)
        except BrokenPipeError:  # piped into `head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        shown += 1
        if args.limit and shown >= args.limit:
            break
    if not shown:
        raise A3TError(f"{args.file}: no trajectory matches" + (f" task {args.task!r}" if args.task else ""))


if __name__ == "__main__":
    run_cli(main)
