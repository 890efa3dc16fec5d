"""Snakemake's benchmark files of a result tree (``results/benchmarks``): one row per job, and a round's minutes by
stage. Read by the report (its minutes columns) and by ``a3t archive`` (a run's dates and job time)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from a3t.io import A3TError

BENCHMARK_COLUMNS = {"s", "max_rss", "cpu_time"}  # what a job row reads of Snakemake's benchmark file


def benchmark_jobs(bench_dir: Path) -> pd.DataFrame:
    """One row per Snakemake ``benchmark:`` file under ``bench_dir`` (``results/benchmarks`` or one round's folder):
    rule (``<rule>.tsv``, or ``<rule>/<i>of<n>.tsv`` for a shard), round (of a ``round<k>/`` part), job, seconds,
    peak RSS in MB, CPU seconds, and start and end from the file's time. A file of several runs gives its last."""
    rows = []
    for tsv in sorted(bench_dir.rglob("*.tsv")):
        rel = tsv.relative_to(bench_dir)
        try:
            runs = pd.read_csv(tsv, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
            raise A3TError(f"{tsv}: not a Snakemake benchmark ({err})") from err
        missing = sorted(BENCHMARK_COLUMNS - set(runs.columns))
        if runs.empty or missing:
            raise A3TError(f"{tsv}: not a Snakemake benchmark ({'no run' if runs.empty else f'no column {missing}'})")
        row, end = runs.iloc[-1], tsv.stat().st_mtime
        rnd = rel.parts[0].removeprefix("round") if rel.parts[0].startswith("round") else ""
        rule = rel.parent.name if re.fullmatch(r"\d+of\d+", tsv.stem) else tsv.stem
        rows.append({
            "rule": rule, "round": rnd, "job": str(rel.with_suffix("")), "seconds": float(row["s"]),
            "max_rss_mb": float(row["max_rss"]), "cpu_seconds": float(row["cpu_time"]), "start": end - float(row["s"]),
            "end": end,
        })  # fmt: skip
    return pd.DataFrame(rows)


def job_minutes(benchmarks: Path) -> dict[str, float]:
    """``{minutes_<stage>: ..., minutes: total}``: the seconds of each stage's jobs in one round's benchmark folder
    (``results/benchmarks/round<k>``), summed over shards, in minutes. The round's wall time when its jobs ran one
    at a time. Empty when the folder is missing."""
    jobs = benchmark_jobs(benchmarks)
    if jobs.empty:
        return {}
    seconds = jobs.groupby("rule")["seconds"].sum()
    out = {f"minutes_{stage}": round(s / 60, 1) for stage, s in seconds.items()}
    return out | {"minutes": round(float(seconds.sum()) / 60, 1)}
