"""Provenance written beside every stage output: config slice, seed, inputs, code and package versions."""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

from a3t.io import atomic_write_json, read_json

MANIFEST = "manifest.json"
PACKAGES = ("a3t", "torch", "transformers", "peft", "bitsandbytes", "textworld", "alfworld", "snakemake", "pandas")


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


def output_files(out_dir: Path) -> list[Path]:
    """The files a stage wrote into ``out_dir`` (not its manifest, not hidden files such as Snakemake's timestamps)."""
    files = (p for p in out_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    return sorted(p for p in files if not any(x.startswith(".") for x in p.relative_to(out_dir).parts))


def write_manifest(
    out_dir: str | Path, stage: str, config: dict, inputs: list[str | Path] = (), compute: str | None = None, **counts
) -> dict:
    """Write ``manifest.json`` into ``out_dir`` and return it; call it after the stage wrote its outputs there.
    ``compute``: a model stage's compute dtype line (a3t.hardware), e.g. ``compute dtype: float32 (CPU capability
    AVX2, no native bfloat16)``."""
    out_dir = Path(out_dir)
    manifest = {
        "stage": stage,
        "config": config,
        "seed": config.get("seed"),
        **({"compute_dtype": compute} if compute else {}),
        "inputs": {str(p): file_hash(p) for p in inputs if Path(p).is_file()},
        "outputs": {p.relative_to(out_dir).as_posix(): file_hash(p) for p in output_files(out_dir)},
        "code_version": code_version(),
        "packages": package_versions(),
        "counts": counts,
    }
    atomic_write_json(out_dir / MANIFEST, manifest)
    return manifest


def verify(results: Path, workdir: Path) -> tuple[int, list[str]]:
    """Recheck every manifest under ``results``: (files checked, problems). Inputs resolve from ``workdir``.

    A problem names a file whose bytes differ from what its manifest recorded (``drifted``), a recorded
    file that is gone (``missing``), or a file in a stage's folder that no manifest knows (``unrecorded``).
    """
    checked, problems = 0, []
    for path in sorted(results.rglob(MANIFEST)):
        out_dir = path.parent
        manifest = read_json(path)
        where = path.relative_to(workdir) if path.is_relative_to(workdir) else path
        recorded = manifest.get("outputs", {})
        files = [(workdir / name, digest, "input") for name, digest in manifest.get("inputs", {}).items()]
        files += [(out_dir / name, digest, "output") for name, digest in recorded.items()]
        for file, digest, kind in files:
            checked += 1
            if not file.is_file():
                problems.append(f"missing   {file} ({kind} recorded in {where})")
            elif file_hash(file) != digest:
                problems.append(f"drifted   {file} ({kind} recorded in {where})")
        if recorded:  # (manifests of older versions record no outputs)
            for file in output_files(out_dir):
                if file.relative_to(out_dir).as_posix() not in recorded:
                    problems.append(f"unrecorded {file} (in {where}'s folder)")
    return checked, problems
