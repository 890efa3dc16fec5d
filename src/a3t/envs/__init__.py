"""Offline ALFWorld: game generation, loading, playing and batching."""

from a3t.settings import TASK_TYPES


def check_task_types(names: list[str]) -> list[str]:
    """Return ``names`` if all are known task types, else raise naming the valid ones."""
    bad = [n for n in names if n not in TASK_TYPES]
    if bad:
        raise ValueError(f"unknown task type(s) {bad}; valid types are: {', '.join(TASK_TYPES)}")
    return list(names)
