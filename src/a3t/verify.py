"""Recheck a result tree against its manifests: name every file that drifted, went missing or was never recorded.

    a3t verify [results]

Each stage's manifest.json records the SHA-256 of the files it read (paths from the workflow's
directory, the parent of ``results``) and of the files it wrote beside it. Exit status 1 when any
file differs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from a3t.io import A3TError, run_cli
from a3t.manifest import verify


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="a3t verify", description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="?", type=Path, default=Path("results"))
    args = p.parse_args(argv)
    if not args.results.is_dir():
        raise A3TError(f"{args.results}: no such folder")
    checked, problems = verify(args.results, args.results.resolve().parent)
    for line in problems:
        print(line)
    print(f"{checked} recorded files checked: " + (f"{len(problems)} problem(s)" if problems else "all match"))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    run_cli(main)
