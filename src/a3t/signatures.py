"""What each job's outputs were made from, kept in the result tree, so that freshness travels with the tree.

Snakemake keeps its params and code triggers in ``.snakemake/metadata``, which a shared ``results/``
does not carry. So every job also reads its *signature*: its params (as Snakemake evaluates them), the
SHA-256 of every a3t source its CLI imports (paths inside the package, the same in any clone) and of
its shell command. A job's folder ``results/signatures/<rule>/<wildcards>/`` holds

- ``made.json``: the signature its outputs were made from, written by the job itself once its stage
  succeeded (``python -m a3t.signatures``, the last command of every rule);
- ``<digest>.json``: the current signature, the job's input, written while the DAG is built
  (:func:`check`). Its modification time tells Snakemake's one trigger that needs no records of its
  own (an input newer than the outputs) what to do: 1970 when it equals ``made.json`` (nothing
  reruns, in any clone: ``tar`` keeps modification times), now when it does not (a config key, a
  module or the rule's command changed: the job reruns, with everything downstream).

Undoing a change before anything ran finds the old digest current again: nothing reruns. A dry run
writes only ``<digest>.json`` files; the job's next run removes the ones it was not made from. A job
killed before its stage finished records nothing, so it reruns.

``A3T_STALE_LOG``: when set, each job whose recorded signature differs from the current one appends a
JSON line there (job, differences); ``a3t verify`` reads it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from a3t.io import atomic_write_json, dumps, read_json
from a3t.settings import dotted
from a3t.sources import ROOT, stage_sources

SIGNATURES = Path("results/signatures")
MADE = "made.json"
STALE_LOG = "A3T_STALE_LOG"


@functools.cache
def code_digests(module: str) -> dict[str, str]:
    """SHA-256 of each source file ``module`` runs, by its path inside the package (``a3t/stages/train.py``)."""
    out = {}
    for path in map(Path, stage_sources(module)):
        out[path.relative_to(ROOT.parent).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_signature(rule: str, wildcards: dict[str, str], params: dict, module: str | None, shell: str) -> dict:
    """The signature of one job (JSON-serialisable, canonical)."""
    return json.loads(
        dumps(
            {
                "rule": rule,
                "wildcards": dict(sorted(wildcards.items())),
                "params": params,
                "code": code_digests(module) if module else {},
                "shell": hashlib.sha256(shell.encode()).hexdigest(),
            }
        )
    )


def digest(signature: dict) -> str:
    return hashlib.sha256(dumps(signature).encode()).hexdigest()[:16]


def job_folder(rule: str, wildcards: dict[str, str]) -> Path:
    """``results/signatures/train/round=1``: one folder a job."""
    return SIGNATURES.joinpath(rule, *(f"{k}={v}" for k, v in sorted(wildcards.items())))


def job_label(signature: dict) -> str:
    wildcards = ",".join(f"{k}={v}" for k, v in signature["wildcards"].items())
    return f"{signature['rule']}[{wildcards}]" if wildcards else signature["rule"]


def read_json_or_none(path: Path) -> dict | None:
    """``path``'s JSON, or ``None`` when it is missing or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def recorded(folder: Path) -> dict | None:
    """The signature a job's outputs were made from (``None`` when the tree has none, or a damaged one)."""
    return read_json_or_none(folder / MADE)


def differences(old: dict, new: dict) -> list[str]:
    """What differs between two signatures of a job, one line each: ``params.settings.train.lr: 0.001 -> 0.002``,
    ``code a3t/stages/train.py (edited)``, ``the rule's shell command``."""
    lines = []
    before, after = dotted(old.get("params", {}), "params"), dotted(new.get("params", {}), "params")
    for key in sorted(before.keys() | after.keys()):
        if before.get(key, "<absent>") != after.get(key, "<absent>"):
            lines.append(f"{key}: {json.dumps(before.get(key, '<absent>'))} -> {json.dumps(after.get(key, '<absent>'))}")
    code_before, code_after = old.get("code", {}), new.get("code", {})
    for name in sorted(code_before.keys() | code_after.keys()):
        if code_before.get(name) != code_after.get(name):
            change = "added" if name not in code_before else "removed" if name not in code_after else "edited"
            lines.append(f"code {name} ({change})")
    if old.get("shell") != new.get("shell"):
        lines.append("the rule's shell command")
    return lines


def check(signature: dict) -> str:
    """Write the job's current signature, dated as the module docstring says, and return its path (the job's
    input); a job whose tree records another signature is noted in ``$A3T_STALE_LOG``."""
    folder = job_folder(signature["rule"], signature["wildcards"])
    path = folder / f"{digest(signature)}.json"
    made = recorded(folder)
    if read_json_or_none(path) != signature:
        atomic_write_json(path, signature)
    if made == signature:
        os.utime(path, ns=(0, 0))  # 1970: older than any output, so it reruns nothing
    else:
        os.utime(path)  # now: newer than the outputs, so the job reruns
    log = os.environ.get(STALE_LOG)
    if log and made is not None and made != signature:
        with open(log, "a", encoding="utf-8") as f:
            f.write(dumps({"job": job_label(signature), "differs": differences(made, signature)}) + "\n")
    return str(path)


def record(path: str | Path) -> None:
    """After a job's stage succeeded: its current signature ``path`` becomes what its outputs were made from;
    the job's other current signatures (left by dry runs of other configs) are removed."""
    path = Path(path)
    signature = read_json(path)
    if path.stem != digest(signature):  # changed while the job ran: record nothing, so the job reruns
        print(f"{path}: changed while the job ran; not recorded", file=sys.stderr)
        return
    atomic_write_json(path.parent / MADE, signature)
    os.utime(path, ns=(0, 0))
    for other in path.parent.glob("*.json"):
        if other.name not in (path.name, MADE):
            other.unlink()


if __name__ == "__main__":
    record(sys.argv[1])
