"""Shard benchmark: a stage's episodes as N jobs of T/N threads side by side vs one job of T threads.

    python benchmarks/shard_bench.py [--base results/base_model] [--adapter results/round0/adapter]
        [--games valid_unseen=results/games/valid_unseen/manifest.csv] [--threads 2] [--shards 2] [--player-args "..."]

Both play the same games with the evaluate stage's CLI (greedy, admissible actions, the merged CPU
path, and the options ``--player-args`` adds, e.g. a pretrained base's), as Snakemake runs its jobs:
one process of ``--threads`` threads, then ``--shards`` processes of ``threads // shards`` threads at
once. It checks that the gathered trajectories are the same bytes. The last line is the speedup of
the shards (wall time of one job / wall time of the shards).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from a3t.stages.gather import gather_episodes


def run(args: argparse.Namespace, shards: int, out: Path) -> float:
    """Wall seconds of ``shards`` evaluate processes started together; their shards gathered into ``out``."""
    threads = max(1, args.threads // shards)
    common = [sys.executable, "-m", "a3t.stages.evaluate", "--base", args.base, "--adapter", args.adapter, "--games", *args.games]
    common += ["--merge", "--actions", "admissible", "--max-len", "1536", "--max-new-tokens", "48", "--batch-size", "16"]
    common += ["--threads", str(threads), "--workers", "2", *shlex.split(args.player_args)]
    folders = [out / f"{i}of{shards}" for i in range(1, shards + 1)]
    start = time.perf_counter()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    procs = [subprocess.Popen([*common, "--shard", f"{i}of{shards}", "--out", str(f)], **quiet) for i, f in enumerate(folders, 1)]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f"shard_bench: evaluate failed:\n{err.decode()[-2000:]}")
    seconds = time.perf_counter() - start
    gather_episodes(folders, out / "gathered", 0, None, None)
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="results/base_model")
    p.add_argument("--adapter", default="results/round0/adapter")
    p.add_argument("--games", nargs="+", default=["valid_unseen=results/games/valid_unseen/manifest.csv"])
    p.add_argument("--threads", type=int, default=2, help="the cores the stage has")
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--player-args", default="", help="more evaluate options (later ones win), e.g. config/default.yaml's")
    args = p.parse_args()
    missing = [x for x in (args.base, args.adapter, *(g.partition("=")[2] for g in args.games)) if not Path(x).exists()]
    if missing:
        sys.exit(f"missing {missing}: build them first, e.g. `make run TARGET=results/round0/eval.json`")
    with tempfile.TemporaryDirectory() as tmp:
        one = run(args, 1, Path(tmp) / "one")
        print(f"1 job of {args.threads} threads:       {one:7.1f} s", flush=True)
        many = run(args, args.shards, Path(tmp) / "many")
        print(f"{args.shards} jobs of {max(1, args.threads // args.shards)} thread(s) at once: {many:7.1f} s")
        same = all(
            (Path(tmp) / "one" / "gathered" / f.name).read_bytes() == f.read_bytes()
            for f in sorted((Path(tmp) / "many" / "gathered").glob("*.jsonl"))
        )
        print(f"gathered trajectories identical: {same}")
    print(f"{args.shards} shards vs 1 job: {one / many:.2f}x")


if __name__ == "__main__":
    main()
