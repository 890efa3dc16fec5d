"""Shards: a stage's tasks split across jobs. Shard ``i`` of ``n`` (``"{i}of{n}"``, 1-based) takes every n-th
task, by sorted task id, from the i-th on. Every episode is seeded by its own identity (seed, task, sample), so
what it plays does not depend on the shard or batch that played it, and gathered episodes are put in one order
(:func:`episode_order`): the same bytes for any number of shards (in float32; bfloat16 rounds differently in
another batch make-up)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from a3t.io import A3TError
from a3t.trajectory import Trajectory

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2of3"`` -> (2, 3)."""
    m = re.fullmatch(r"(\d+)of(\d+)", text)
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise A3TError(f"--shard expects IofN with 1 <= I <= N (e.g. 2of3), got {text!r}")
    return int(m[1]), int(m[2])


def shard_of(items: Sequence[T], shard: str, task_id: Callable[[T], str] = str) -> list[T]:
    """The items of ``shard`` (``"IofN"``): every N-th by sorted task id, from the I-th on."""
    i, n = parse_shard(shard)
    return sorted(items, key=task_id)[i - 1 :: n]


def episode_order(trajs: list[Trajectory]) -> list[Trajectory]:
    """Trajectories in the order every shard count gives: by task, then sample."""
    return sorted(trajs, key=lambda t: (t.task_id, t.sample))
