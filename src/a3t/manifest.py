"""Provenance written beside every stage output: config slice, seed, inputs, code and package versions."""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

from a3t.io import atomic_write_json

PACKAGES = ("a3t", "torch", "transformers", "peft", "trl", "bitsandbytes", "textworld", "alfworld", "snakemake", "pandas")


@functools.cache
def code_version() -> str:
    """A hash of the package's source: changes exactly when the code does (no clock, no git needed)."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(out_dir: str | Path, stage: str, config: dict, inputs: list[str | Path] = (), **counts) -> dict:
    """Write ``manifest.json`` into ``out_dir`` and return it."""
    manifest = {
        "stage": stage,
        "config": config,
        "seed": config.get("seed"),
        "inputs": {str(p): file_hash(p) for p in inputs if Path(p).is_file()},
        "code_version": code_version(),
        "packages": package_versions(),
        "counts": counts,
    }
    atomic_write_json(Path(out_dir) / "manifest.json", manifest)
    return manifest
