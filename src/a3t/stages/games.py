"""Stage ``games``: write one split of ALFWorld games, generated offline or indexed from real data.

    python -m a3t.stages.games --split train --out results/games/train --seed 0 --per-type 10
    python -m a3t.stages.games --split valid_unseen --out results/games/valid_unseen --data-dir $ALFWORLD_DATA

Output: ``<out>/<task_id>/game.tw-pddl`` + ``task.json`` (generated games), ``<out>/manifest.csv``
(one row per game, the interface every later stage reads) and ``<out>/manifest.json`` (provenance).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from a3t.envs import check_task_types
from a3t.envs.games import MANIFEST_FIELDS, index_alfworld
from a3t.envs.scenes import floorplans
from a3t.io import A3TError, atomic_dir, atomic_write_text, dumps, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, parse_stage_args

SPLIT_POOLS = {"valid_unseen": "unseen"}  # every other split draws from the seen floorplans


def split_floorplans(split: str, unseen: list[int]) -> list[int]:
    """Floorplans a split may use: ``valid_unseen`` only the held-out ones, every other split none of them."""
    known = set(floorplans())
    bad = sorted(set(unseen) - known)
    if bad:
        raise A3TError(f"unseen floorplans {bad} are not shipped by alfworld (known: {min(known)}..{max(known)})")
    if SPLIT_POOLS.get(split) == "unseen":
        return sorted(unseen)
    return sorted(known - set(unseen))


def _draw(args):
    """One draw in a worker process: (draw index, (task, data) or the reason it was discarded)."""
    from a3t.envs.env import GameEnv
    from a3t.envs.generate import Unsolvable, draw_game, floorplans_for

    task_type, candidates, seed, split, draw, distractors, max_instances = args
    rng = random.Random(f"{seed}/{split}/{task_type}/{draw}")
    fps = floorplans_for(task_type, candidates)
    if not fps:
        return draw, None, "no floorplan supports this task type"
    try:
        return draw, draw_game(GameEnv(step_limit=200), task_type, rng.choice(fps), rng, draw, distractors, max_instances), None
    except Unsolvable as err:
        return draw, None, str(err)


def generate_split(
    out: Path,
    split: str,
    sizes: dict[str, int],
    seed: int,
    unseen: list[int],
    distractors: int = 8,
    max_instances: int = 3,
    max_draws: int = 20,
    workers: int = 1,
) -> dict:
    """Generate ``sizes[type]`` solvable games per type into ``out`` (atomically). Returns counts."""
    check_task_types(list(sizes))
    candidates = split_floorplans(split, unseen)
    accepted: dict[str, list] = {t: [] for t in sizes}
    discarded: Counter = Counter()
    reasons: Counter = Counter()
    total = sum(sizes.values())
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        with tqdm(total=total, desc=f"games/{split}", unit="game") as bar:
            for task_type, n in sizes.items():
                draw = 0
                while len(accepted[task_type]) < n:
                    if draw >= max_draws * max(n, 1):
                        raise A3TError(
                            f"split {split!r}: only {len(accepted[task_type])}/{n} solvable {task_type} games in {draw} draws "
                            f"(discarded: {dict(reasons)}); check the floorplans or raise max_draws"
                        )
                    batch = [
                        (task_type, candidates, seed, split, d, distractors, max_instances)
                        for d in range(draw, draw + max(workers, 1) * 2)
                    ]
                    results = pool.map(_draw, batch) if pool else map(_draw, batch)
                    for _, game, reason in sorted(results, key=lambda r: r[0]):  # accept in draw order: deterministic
                        draw += 1
                        if len(accepted[task_type]) >= n:
                            continue
                        if game is None:
                            discarded[task_type] += 1
                            reasons[reason.split(":")[0]] += 1
                        else:
                            accepted[task_type].append(game)
                            bar.update(1)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    if total == 0 or not any(accepted.values()):
        raise A3TError(f"split {split!r} has zero games: give it a positive size")
    rows = []
    with atomic_dir(out) as tmp:
        for task_type in sizes:
            for task, data in accepted[task_type]:
                game_dir = tmp / task.task_id
                game_dir.mkdir()
                (game_dir / "game.tw-pddl").write_text(json.dumps(data, indent=1, sort_keys=True))
                meta = {**task.__dict__, "split": split, "walkthrough": data["walkthrough"]}
                (game_dir / "task.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
                rows.append(
                    {
                        **_row(task.__dict__),
                        "game_file": f"{task.task_id}/game.tw-pddl",
                        "walkthrough_steps": len(data["walkthrough"]),
                    }
                )
        write_manifest_csv(tmp / "manifest.csv", rows)
        counts = {
            "games": {t: len(v) for t, v in accepted.items()},
            "discarded": {t: discarded[t] for t in sizes},
            "discard_reasons": dict(sorted(reasons.items())),
        }
        config = {
            "split": split,
            "sizes": sizes,
            "seed": seed,
            "unseen_floorplans": unseen,
            "distractors": distractors,
            "max_instances": max_instances,
        }
        write_manifest(tmp, "games", config, **counts)
    return counts


def _row(task: dict) -> dict:
    return {k: task[k] for k in ("task_id", "task_type", "goal", "floorplan", "room")}


def write_manifest_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["task_id"]))
    atomic_write_text(path, buf.getvalue())


def index_split(
    out: Path, split: str, data_dir: Path, task_types: list[str], sizes: dict[str, int] | None = None, seed: int = 0
) -> dict:
    """Index real ALFWorld games (``json_2.1.1/<split>/...``) into ``out/manifest.csv``; with ``sizes``, a
    seeded sample of that many games per task type (all of a type that has fewer)."""
    rows, skipped = index_alfworld(data_dir, split, task_types)
    if not rows:
        raise A3TError(f"{data_dir}: split {split!r} has no solvable game of types {task_types} (skipped: {dict(skipped)})")
    if sizes is not None:
        rng = random.Random(f"{seed}/{split}")
        by_type = {t: [r for r in rows if r["task_type"] == t] for t in task_types}
        rows = [r for t, pool in by_type.items() for r in rng.sample(pool, min(sizes.get(t, 0), len(pool)))]
    out.mkdir(parents=True, exist_ok=True)
    write_manifest_csv(out / "manifest.csv", rows)
    counts = {"games": dict(Counter(r["task_type"] for r in rows)), "skipped": dict(skipped)}
    config = {"split": split, "data_dir": str(data_dir), "task_types": task_types, "sizes": sizes, "seed": seed}
    write_manifest(out, "games", config, **counts)
    return counts


def parse_sizes(text: str, task_types: list[str]) -> dict[str, int] | None:
    """``"4"`` (every type), a JSON object ``{"pick_and_place_simple": 3, ...}``, or ``all`` (None: real data only)."""
    if text == "all":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise A3TError(f"--per-type: expected an integer or a JSON object, got {text!r}") from err
    if isinstance(value, int):
        return {t: value for t in task_types}
    if not isinstance(value, dict):
        raise A3TError(f"--per-type: expected an integer or a JSON object, got {text!r}")
    try:
        check_task_types(list(value))
    except ValueError as err:
        raise A3TError(str(err)) from err
    return {t: int(value[t]) for t in task_types if t in value}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.games", description=__doc__.splitlines()[0])
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True, type=Path)
    add_setting(p, "games.task_types")
    p.add_argument("--per-type", default="2", help="games per task type: an integer, a JSON object by type, or all")
    for key in ("seed", "unseen_floorplans", "distractors", "max_instances", "max_draws", "data_dir"):
        add_setting(p, f"games.{key}")
    p.add_argument("--workers", type=int, default=1)
    args = parse_stage_args(p, argv)
    try:
        task_types = check_task_types(args.task_types)
    except ValueError as err:
        raise A3TError(str(err)) from err
    if args.data_dir:
        data_dir = Path(os.path.expandvars(args.data_dir))
        counts = index_split(args.out, args.split, data_dir, task_types, parse_sizes(args.per_type, task_types), args.seed)
    else:
        sizes = parse_sizes(args.per_type, task_types)
        if sizes is None:
            raise A3TError("--per-type all: only real data (--data-dir) has a fixed set of games to take all of")
        counts = generate_split(
            args.out,
            args.split,
            sizes,
            args.seed,
            args.unseen_floorplans,
            args.distractors,
            args.max_instances,
            args.max_draws,
            args.workers,
        )
    print(dumps(counts))


if __name__ == "__main__":
    run_cli(main)
