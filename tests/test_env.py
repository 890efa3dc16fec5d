"""The environment: thoughts, step limit, both grammars, batching, and the real-data loader."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from a3t.envs import memo
from a3t.envs.batch import BatchEnv
from a3t.envs.env import THINK_REPLY, GameEnv, grammar_variants
from a3t.envs.expert import expert_trajectory
from a3t.envs.gamefile import load_game_file
from a3t.envs.games import load_split
from a3t.io import A3TError
from a3t.stages.games import index_split


@pytest.fixture(scope="module")
def games(games_dir):
    return {g.task_type: g for g in load_split(games_dir / "manifest.csv")}


def test_thought_is_answered_ok_and_not_sent(games):
    game = games["pick_and_place_simple"]
    env = GameEnv(step_limit=50)
    env.reset(game.game_file)
    res = env.step("think: First I need to find the object.")
    assert res.observation == THINK_REPLY and not res.won and not res.done
    for command in game.walkthrough():
        res = env.step(command)
    assert res.won and res.done and res.reward == 1.0


def test_step_limit_ends_episode(games):
    env = GameEnv(step_limit=3)
    env.reset(games["pick_and_place_simple"].game_file)
    results = [env.step("look") for _ in range(3)]
    assert [r.done for r in results] == [False, False, True]
    assert not results[-1].won
    with pytest.raises(RuntimeError):
        env.step("look")
    with pytest.raises(ValueError):
        GameEnv(step_limit=0)


def test_invalid_action_is_nothing_happens_as_textworld_says(games):
    env = GameEnv()
    first = env.reset(games["pick_and_place_simple"].game_file)
    res = env.step("fly to the moon")  # answered without calling TextWorld
    assert res.observation == "Nothing happens." and not res.valid and not res.won and res.admissible == first.admissible
    state, _, _ = env._env.step("fly to the moon")  # what TextWorld itself answers: the same, state unchanged
    assert state["feedback"].strip() == res.observation and sorted(state["admissible_commands"]) == first.admissible
    assert env.step(first.admissible[0]).valid  # the game goes on from where it was


def _old_grammar_copy(src: str, dst) -> None:
    data = load_game_file(src)
    data["grammar"] = data["grammar"].replace('template :: "move {o} to {r}"', 'template :: "put {o} in/on {r}"')
    dst.write_text(json.dumps(data))


@pytest.mark.parametrize("speak", ["move", "put"])
@pytest.mark.parametrize("grammar", ["new", "old"])
def test_both_grammars_on_one_game(games, tmp_path, speak, grammar):
    game = games["pick_two_obj_and_place"]
    path = game.game_file
    if grammar == "old":
        path = tmp_path / "old.tw-pddl"
        _old_grammar_copy(game.game_file, path)
    env = GameEnv()
    env.reset(path)
    offered = set()
    for command in game.walkthrough():
        offered.update(env.admissible)
        if command.startswith("move "):
            obj, rec = command[len("move ") :].split(" to ")
            command = f"move {obj} to {rec}" if speak == "move" else f"put {obj} in/on {rec}"
            assert any(v in env.admissible for v in grammar_variants(command))
        res = env.step(command)
        assert res.valid, command
    assert res.won
    native = "put " if grammar == "old" else "move "  # the game offers its own grammar; both are understood
    assert any(c.startswith(native) for c in offered)
    assert not any(c.startswith("put " if grammar == "new" else "move ") for c in offered)


def test_grammar_variants():
    assert grammar_variants("put apple 1 in/on fridge 1") == ["put apple 1 in/on fridge 1", "move apple 1 to fridge 1"]
    assert grammar_variants("move apple 1 to fridge 1")[1] == "put apple 1 in/on fridge 1"
    assert grammar_variants("put apple 1 in fridge 1")[1:] == ["move apple 1 to fridge 1", "put apple 1 in/on fridge 1"]
    assert grammar_variants("go to fridge 1") == ["go to fridge 1"]


@pytest.mark.parametrize("workers", [0, 2])
def test_batch_env_matches_one_by_one(games, workers):
    chosen = list(games.values())
    plans = [g.walkthrough() for g in chosen]
    seq = []
    for g, plan in zip(chosen, plans, strict=True):
        env = GameEnv()
        env.reset(g.game_file)
        seq.append([env.step(c).observation for c in plan])
    with BatchEnv(workers=workers) as batch:
        first = batch.reset({i: (g.game_file, g.goal) for i, g in enumerate(chosen)})
        assert all(r.observation.endswith(f"{chosen[i].goal}.") for i, r in first.items())
        got = [[] for _ in chosen]
        for t in range(max(map(len, plans))):
            live = {i: p[t] for i, p in enumerate(plans) if t < len(p)}
            for i, res in batch.step(live).items():
                got[i].append(res.observation)
                if t == len(plans[i]) - 1:
                    assert res.won
        assert got == seq
        # the same game again in the same slot: pooled env, same first observation
        again = batch.reset({0: (chosen[0].game_file, chosen[0].goal)})
        assert again[0].observation == first[0].observation


def test_batch_env_worker_error_is_raised():
    with BatchEnv(workers=1) as batch, pytest.raises(RuntimeError, match="worker 0 failed"):
        batch.reset({0: ("/nonexistent/game.tw-pddl", None)})


def _write_real_layout(root, games, old: bool):
    """Write games in ALFWorld's json_2.1.1/<split>/<task>/<trial>/ layout (old: no walkthrough, UNKNOWN GOAL)."""
    for i, game in enumerate(games):
        trial = root / "json_2.1.1" / "valid_seen" / f"{game.task_type}-X-None-Y-{game.floorplan}" / f"trial_T2019_{i}"
        trial.mkdir(parents=True)
        data = game.data()
        if old:
            data.pop("walkthrough")
            data["grammar"] = data["grammar"].replace(f"Your task is to: {game.goal}.", "Your task is to: UNKNOWN GOAL.")
        (trial / "game.tw-pddl").write_text(json.dumps(data))
        task = json.loads((Path(game.game_file).parent / "task.json").read_text())
        traj = {
            "task_type": game.task_type,
            "scene": {"floor_plan": f"FloorPlan{game.floorplan}"},
            "pddl_params": {
                "object_target": task["object_target"],
                "parent_target": task["parent_target"],
                "toggle_target": task["toggle_target"],
                "mrecep_target": "",
                "object_sliced": False,
            },
        }
        (trial / "traj_data.json").write_text(json.dumps(traj))
    return root


@pytest.mark.parametrize("old", [False, True])
def test_real_layout_loader(games, tmp_path, old):
    chosen = [games["pick_and_place_simple"], games["pick_clean_then_place_in_recep"]]
    root = _write_real_layout(tmp_path / "data", chosen, old)
    # an unsolvable game and a sliced variant are skipped and counted
    bad = root / "json_2.1.1" / "valid_seen" / "pick_and_place_simple-Z-None-W-1" / "trial_T2019_9"
    shutil.copytree(next(root.glob("json_2.1.1/valid_seen/*/*")), bad)
    data = json.loads((bad / "game.tw-pddl").read_text())
    data["solvable"] = False
    (bad / "game.tw-pddl").write_text(json.dumps(data))
    counts = index_split(tmp_path / "out", "valid_seen", root, ["pick_and_place_simple", "pick_clean_then_place_in_recep"])
    assert counts["skipped"] == {"unsolvable": 1}
    loaded = load_split(tmp_path / "out" / "manifest.csv")
    assert sorted(g.task_type for g in loaded) == sorted(g.task_type for g in chosen)
    for g in loaded:
        assert g.floorplan in {c.floorplan for c in chosen}
        assert g.goal  # from the grammar, or from traj_data.json for old files
        traj = expert_trajectory(g)  # old files: walkthrough planned with Fast Downward
        assert traj.won
        assert "UNKNOWN GOAL" not in traj.initial_observation and traj.initial_observation.endswith(f"{g.goal}.")


def test_real_data_errors(tmp_path, games):
    with pytest.raises(A3TError, match="not found"):
        index_split(tmp_path / "o", "valid_seen", tmp_path / "missing", ["pick_and_place_simple"])
    (tmp_path / "empty" / "valid_seen").mkdir(parents=True)
    with pytest.raises(A3TError, match="no solvable game"):
        index_split(tmp_path / "o", "valid_seen", tmp_path / "empty", ["pick_and_place_simple"])
    root = _write_real_layout(tmp_path / "data", [games["pick_and_place_simple"]], old=False)
    game_file = next(root.rglob("game.tw-pddl"))
    game_file.write_text('{"pddl_domain": "truncated')
    with pytest.raises(A3TError, match=str(game_file)):
        index_split(tmp_path / "o", "valid_seen", root, ["pick_and_place_simple"])
    with pytest.raises(A3TError, match=str(game_file)):
        GameEnv().reset(game_file)


def _random_walks(games, steps: int) -> list:
    """Observations, admissible commands and wins of a seeded random walk in each game, twice from a reset."""
    env, out = GameEnv(), []
    for game in games:
        rng = random.Random(game.task_id)
        for _ in range(2):
            res = env.reset(game.game_file)
            out.append((res.observation, res.admissible))
            for _ in range(steps):
                res = env.step(rng.choice(res.admissible))
                out.append((res.observation, res.admissible, res.won))
    env.close()
    return out


def test_memoized_textworld_plays_exactly_as_textworld(games):
    """a3t.envs.memo caches TextWorld's pure functions: the same observations and commands, and a game
    is translated once per process; two envs of one game still play apart."""
    sample = [games[t] for t in sorted(games)[:3]]  # three task types: unmemoized TextWorld is the slow part
    try:
        memo.uninstall()
        original = _random_walks(sample, 12)
    finally:
        memo.install()
    memo.pddl2sas.cache_clear()
    assert _random_walks(sample, 12) == original
    assert memo.pddl2sas.cache_info().misses == 2 * len(sample)  # the problem as given, and optimised for the planner

    game = games["pick_and_place_simple"]
    plan = game.walkthrough()
    a, b = GameEnv(), GameEnv()
    a.reset(game.game_file)
    b.reset(game.game_file)
    for command in plan[:-1]:  # a advances; then b plays from the start, and a finishes
        a.step(command)
    for command in plan:
        res = b.step(command)
    assert res.won
    assert a.step(plan[-1]).won
