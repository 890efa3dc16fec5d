"""What a set of episodes counts: success overall and per task type with its Wilson interval, the accumulated
success across rounds (eval.json), and an exploration's counts. Written by each shard and by the gather jobs."""

from __future__ import annotations

from collections import Counter, defaultdict

from a3t.stats import wilson_interval
from a3t.trajectory import Trajectory


def _stats(trajs: list[Trajectory]) -> dict:
    won = sum(t.won for t in trajs)
    return {
        "n": len(trajs),
        "won": won,
        "success": round(won / len(trajs), 4) if trajs else 0.0,
        "ci95": list(wilson_interval(won, len(trajs))),
        "mean_steps": round(sum(len(t.steps) for t in trajs) / len(trajs), 2) if trajs else 0.0,
    }


def summarize(trajs: list[Trajectory]) -> dict:
    """Success overall and per task type, from the trajectories themselves."""
    by_type: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        by_type[t.task_type].append(t)
    return {**_stats(trajs), "per_type": {k: _stats(v) for k, v in sorted(by_type.items())}}


def accumulated(trajs: list[Trajectory], previous: dict | None) -> dict:
    """Success counting a task as solved if this round or any earlier one (``previous``, a split's summary) solved it."""
    solved = {t.task_id for t in trajs if t.won} | set((previous or {}).get("accumulated", {}).get("solved", []))
    solved &= {t.task_id for t in trajs}
    n = len(trajs)
    return {"success": round(len(solved) / n, 4) if n else 0.0, "won": len(solved), "solved": sorted(solved)}


def evaluation(trajs_by_split: dict[str, list[Trajectory]], round: int, previous: dict) -> dict:
    """eval.json: each split's summary and accumulated success. A split the round before had (or carried) and
    this round does not play (eval.alfworld_rounds) is ``carried``: its accumulated solved tasks, for the next
    round that plays it."""
    earlier = previous.get("carried", {}) | previous["splits"]
    result = {"round": round, "splits": {}}
    for name, trajs in trajs_by_split.items():
        result["splits"][name] = summarize(trajs) | {"accumulated": accumulated(trajs, earlier.get(name))}
    carried = {name: {"accumulated": s["accumulated"]} for name, s in earlier.items() if name not in trajs_by_split}
    if carried:
        result["carried"] = carried
    return result


def discordant(now: dict[str, bool], then: dict[str, bool]) -> tuple[int, int]:
    """(games only ``now`` won, games only ``then`` won) on the games both played: task id -> won, each; McNemar's
    counts of one round against another."""
    same = now.keys() & then.keys()
    return sum(now[g] and not then[g] for g in same), sum(then[g] and not now[g] for g in same)


def exploration_counts(trajs: list[Trajectory], failed_tasks: int) -> dict:
    """An exploration's manifest counts: failed tasks explored, episodes, successes (per type), tasks solved."""
    won = Counter(t.task_type for t in trajs if t.won)
    return {
        "failed_tasks": failed_tasks,
        "episodes": len(trajs),
        "successes": sum(won.values()),
        "tasks_solved": len({t.task_id for t in trajs if t.won}),
        "successes_per_type": dict(sorted(won.items())),
    }
