"""Offline ALFWorld: game generation, loading, playing and batching."""

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)


def check_task_types(names: list[str]) -> list[str]:
    """Return ``names`` if all are known task types, else raise naming the valid ones."""
    bad = [n for n in names if n not in TASK_TYPES]
    if bad:
        raise ValueError(f"unknown task type(s) {bad}; valid types are: {', '.join(TASK_TYPES)}")
    return list(names)
