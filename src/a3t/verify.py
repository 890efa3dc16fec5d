"""Recheck a result tree: its files against their manifests, its stages against the current config and code.

    a3t verify [results] [--configfile FILE ...] [--config KEY=VALUE ...] [--files-only]

Files: each stage's manifest.json records the SHA-256 of the files it read (paths from the workflow's
directory, the parent of ``results``) and of the files it wrote beside it; every file that drifted,
went missing or was never recorded is named.

Stages: a dry run of the workflow beside ``results`` (``snakemake --dry-run``, nothing runs), with the
config arguments a run would get, compares each job's recorded signature (``results/signatures``, see
a3t.signatures) with the current config and code, and names each stale stage with the keys or code that
differ, then what a run would redo. Exit status 1 when a file differs or a stage is stale.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from a3t.io import A3TError, run_cli
from a3t.manifest import verify
from a3t.signatures import MADE, SIGNATURES, STALE_LOG


def stale_stages(workdir: Path, snakemake_args: list[str]) -> tuple[list[dict], dict[str, int]]:
    """The jobs whose recorded signature differs from the current one (job, differs), and the jobs a run
    would make (rule -> count, signatures left out), from a dry run of the workflow in ``workdir``."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "stale.jsonl"
        cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--nolock", "--cores", "1", *snakemake_args]
        proc = subprocess.run(cmd, cwd=workdir, env=os.environ | {STALE_LOG: str(log)}, capture_output=True, text=True)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            tail = "\n".join(out.strip().splitlines()[-5:])
            raise A3TError(f"the dry run in {workdir} failed ({' '.join(cmd[1:])}):\n{tail}")
        stale = {}
        for line in log.read_text(encoding="utf-8").splitlines() if log.is_file() else []:
            record = json.loads(line)
            stale.setdefault(record["job"], record)  # Snakemake may evaluate a job's inputs more than once
    jobs = re.findall(r"^(\w+)\s+(\d+)$", out, re.M)
    planned = {rule: int(n) for rule, n in jobs if rule not in ("total", "all")}
    return sorted(stale.values(), key=lambda r: r["job"]), planned


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="a3t verify", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="?", type=Path, default=Path("results"))
    p.add_argument("--configfile", nargs="+", default=[], help="as given to snakemake for the run")
    p.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE", help="as given to snakemake for the run")
    p.add_argument("--files-only", action="store_true", help="check the files only, not the stages")
    args = p.parse_args(argv)
    if not args.results.is_dir():
        raise A3TError(f"{args.results}: no such folder")
    workdir = args.results.resolve().parent
    checked, problems = verify(args.results, workdir)
    for line in problems:
        print(line)
    print(f"{checked} recorded files checked: " + (f"{len(problems)} problem(s)" if problems else "all match"))

    stale = []
    if args.files_only:
        pass
    elif args.results.resolve() != workdir / "results" or not (workdir / "Snakefile").is_file():
        print(f"stages not checked: no Snakefile beside {args.results} (the workflow reads results/ in its own folder)")
    else:
        configfiles = [str(Path(f).resolve()) for f in args.configfile]  # the dry run runs in the workflow's folder
        snakemake_args = (["--configfile", *configfiles] if configfiles else []) + (
            ["--config", *args.config] if args.config else []
        )
        stale, planned = stale_stages(workdir, snakemake_args)
        recorded = sum(1 for _ in (workdir / SIGNATURES).rglob(MADE))
        for record in stale:
            print(f"stale     {record['job']}: " + "; ".join(record["differs"]))
        if not recorded and any((workdir / "results").glob("round*")):
            print(f"stale     every stage: {SIGNATURES} is absent (a tree made before a3t recorded signatures)")
            stale.append({"job": "all"})
        print(
            f"{recorded} recorded stage signatures checked against this config and code: "
            + (f"{len(stale)} stale" if stale else "all current")
        )
        if planned:
            print("a run would make: " + ", ".join(f"{rule} {n}" for rule, n in planned.items()))
        else:
            print("a run would make: nothing")
    if problems or stale:
        raise SystemExit(1)


if __name__ == "__main__":
    run_cli(main)
