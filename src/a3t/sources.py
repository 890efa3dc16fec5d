"""Which source files a stage runs: their hashes are part of each job's signature (a3t.signatures), so
editing a module reruns exactly the rules whose CLI imports it (directly or not), and downstream of them."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent  # src/a3t
PACKAGE = "a3t"
# modules whose edits reach a job through its params instead: the typed config's defaults and help become config
# values, which every rule passes as its settings; hashing it (and what it imports) would rerun every job for one default
CONFIG_MODULES = {"a3t.settings"}


def module_file(module: str) -> Path:
    """``a3t.envs.batch`` -> .../a3t/envs/batch.py (or the package's ``__init__.py``)."""
    rel = Path(*module.split(".")[1:])
    path = ROOT / rel / "__init__.py"
    return path if path.is_file() else (ROOT / rel).with_suffix(".py")


def _imports(path: Path) -> set[str]:
    """The a3t modules ``path`` imports anywhere in its body (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == PACKAGE and module_file(n).is_file())
    return found


@functools.cache
def stage_sources(module: str) -> tuple[str, ...]:
    """Every a3t source file ``module`` needs: itself, what it imports, transitively, and their packages' ``__init__``;
    not CONFIG_MODULES (nor what only they import)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name in CONFIG_MODULES:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b.c runs a and a.b
        todo.extend(_imports(module_file(name)))
    return tuple(sorted(str(module_file(n)) for n in seen))
