"""Pipeline benchmark: wall time and peak memory per rule, from Snakemake's ``benchmark:`` files.

    python benchmarks/pipeline_bench.py [--results results] [--rounds 4]

Collects ``results/benchmarks/**/*.tsv`` into ``results/benchmarks.csv`` (rule, round, seconds,
peak RSS in MB, CPU seconds), prints the table, the span of the run (first job start to last job
end, from the files' times) and the peak memory of any job. Also times a no-op ``snakemake -n`` on
the finished tree (the DAG check a second run does). The last lines are the goals' ratios:
rounds 0..4 under 30 min, peak under 4 GB, the no-op check under 5 s (a ratio > 1 meets the goal).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from a3t.job_times import benchmark_jobs

GOAL_SPAN_S, GOAL_PEAK_MB, GOAL_NOOP_S = 30 * 60, 4096, 5.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=Path("results"))
    args = p.parse_args()
    table = benchmark_jobs(args.results / "benchmarks")
    if table.empty:
        sys.exit(f"no benchmark files under {args.results / 'benchmarks'}: run the pipeline first (`make run`)")
    table.drop(columns=["start", "end"]).to_csv(args.results / "benchmarks.csv", index=False)
    print(table.drop(columns=["start", "end"]).to_string(index=False))
    span = table["end"].max() - table["start"].min()
    peak = table["max_rss_mb"].max()
    print(f"jobs: {len(table)}; summed job time {table['seconds'].sum():.0f} s; span {span:.0f} s; peak RSS {peak:.0f} MB")
    start = time.perf_counter()
    workdir = args.results.resolve().parent  # the workflow's directory
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "8"], cwd=workdir, capture_output=True, text=True)
    noop = time.perf_counter() - start
    todo = "Nothing to be done" not in proc.stdout + proc.stderr
    print(f"no-op check (snakemake -n): {noop:.1f} s" + ("  (the tree is not complete: jobs are pending)" if todo else ""))
    print(f"span goal {GOAL_SPAN_S} s / span: {GOAL_SPAN_S / span:.2f}x")
    print(f"peak goal {GOAL_PEAK_MB} MB / peak: {GOAL_PEAK_MB / peak:.2f}x")
    print(f"no-op goal {GOAL_NOOP_S} s / no-op: {GOAL_NOOP_S / noop:.2f}x")


if __name__ == "__main__":
    main()
