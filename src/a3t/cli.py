"""The ``a3t`` command: ``a3t show FILE`` prints trajectories readably, ``a3t verify [results]`` rechecks manifests,
``a3t pool RESULTS RESULTS ...`` pools runs of several seeds, each round against its own round 0, ``a3t archive RESULTS OUT``
keeps a finished run small enough to commit."""

from __future__ import annotations

import importlib
import sys

from a3t.io import run_cli

COMMANDS = {"show": "a3t.show", "verify": "a3t.verify", "pool": "a3t.pool", "archive": "a3t.archive"}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        sys.exit(f"usage: a3t {{{','.join(COMMANDS)}}} ...  (a3t <command> -h for help)")
    module = importlib.import_module(COMMANDS[argv[0]])
    run_cli(module.main, argv[1:])


if __name__ == "__main__":
    main()
