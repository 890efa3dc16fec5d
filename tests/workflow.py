"""Helpers for tests that run the Snakemake workflow in a scratch copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "config" / "tiny.yaml"


def workflow_copy(dst: Path) -> Path:
    """Snakefile, rules, config and report templates copied into ``dst`` (the a3t package stays installed)."""
    for name in ("Snakefile", "rules", "config", "report", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / name)
    return dst


def snakemake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", *args]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(*args), cwd=workdir, capture_output=True, text=True, timeout=1200)
