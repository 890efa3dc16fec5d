"""DAgger for the embedded base: the teacher's next step after any history (its labels), and the
workflow's iterations on the tiny config."""

from __future__ import annotations

import json
import random
import re
import shutil

import pytest

from a3t.agents.corrector import Corrector, teacher_step
from a3t.agents.episodes import Job, run_episodes
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split
from a3t.stages.dagger import examples
from a3t.stages.demos import play
from a3t.trajectory import Step, Trajectory, read_trajectories
from tests.workflow import TINY, snakemake, workflow_copy


@pytest.fixture(scope="module")
def teacher_trajs(games_dir):
    return play(load_split(games_dir / "manifest.csv"), ["teacher"], seed=0, workers=0, slots=6)


def test_on_its_own_histories_it_says_what_the_teacher_said(teacher_trajs):
    for traj in teacher_trajs:
        for t, step in enumerate(traj.steps):
            so_far = Trajectory(traj.task_id, traj.task_type, traj.goal, traj.initial_observation, steps=traj.steps[:t])
            assert teacher_step(so_far) == step.action, (traj.task_type, t)


def test_played_alone_it_wins_the_teachers_episodes(teacher_trajs, games_dir):
    games = load_split(games_dir / "manifest.csv")
    with BatchEnv(workers=0, step_limit=50) as env:
        mine = run_episodes([Job(g) for g in games], Corrector(), env, 6, 0, origin="teacher")
    assert [[s.action for s in t.steps] for t in mine] == [[s.action for s in t.steps] for t in teacher_trajs]
    assert all(t.won for t in mine)


def _after(traj: Trajectory, steps: list[Step]) -> Trajectory:
    return Trajectory(traj.task_id, traj.task_type, traj.goal, traj.initial_observation, steps=steps)


def test_after_a_learners_detours_it_takes_up_the_plan_from_the_history(teacher_trajs):
    simple = next(t for t in teacher_trajs if t.task_type == "pick_and_place_simple")
    take = next(i for i, s in enumerate(simple.steps) if s.action.startswith("take "))
    item, where = simple.steps[take].action.removeprefix("take ").split(" from ")
    # the learner skipped every thought: the teacher still opens with its plan
    acts = [s for s in simple.steps if not s.is_thought]
    assert teacher_step(_after(simple, acts[:1])) == simple.steps[0].action
    # it saw the object on the way, then walked off: the teacher goes back for it
    seen_at = next(i for i, s in enumerate(simple.steps[:take]) if item in s.observation)
    detour = [*simple.steps[: seen_at + 1], Step("go to nowhere 1", "Nothing happens.", "policy")]
    assert teacher_step(_after(simple, detour)) in (
        f"think: Now I find a {item.rsplit(' ', 1)[0]}: {item}. Next, I need to take it.",
        f"think: I remember seeing {item} in/on {where}. I will go back there.",
    )
    # it took something the goal does not name: the teacher puts it back where it is
    other = "pencil 9" if not item.startswith("pencil") else "keychain 9"
    wrong = [*simple.steps[:take], Step(f"take {other} from {where}", f"You pick up the {other} from the {where}.", "policy")]
    assert teacher_step(_after(simple, wrong)) == f"move {other} to {where}"
    # arrived at a closed receptacle: the teacher opens it
    closed = [*simple.steps[:1], Step("go to drawer 7", "You arrive at drawer 7. The drawer 7 is closed.", "policy")]
    assert teacher_step(_after(simple, closed)) == "open drawer 7"


def test_examples_are_the_states_where_the_base_erred_with_the_teachers_step(teacher_trajs):
    traj = teacher_trajs[0]
    labels = [(t, "look" if t % 2 else s.action, s.action) for t, s in enumerate(traj.steps)]
    made = examples(traj, labels, 0, random.Random(0))
    wrong = [t for t, mine, label in labels if mine != label]
    assert [e.sample for e in made] == wrong and all(e.origin == "dagger" for e in made)
    for e, t in zip(made, wrong, strict=True):
        assert e.steps[:-1] == traj.steps[:t] and e.steps[-1].action == traj.steps[t].action and e.steps[-1].observation == ""
    assert len(examples(traj, labels, 2, random.Random(0))) == 2


def test_dagger_iterations_in_the_workflow(tiny_run, tmp_path):
    """Two iterations on the tiny run's base and pretraining text; round 0 is then built on iteration 2."""
    wd = workflow_copy(tmp_path)
    rules = ("games", "pretrain_corpus", "base_model", "teacher_demos", "dataset_round0")
    for part in ("games", "pretrain", "base_model", "round0/teacher", "round0/dataset", *(f"signatures/{r}" for r in rules)):
        shutil.copytree(tiny_run / "results" / part, wd / "results" / part)
    (wd / "dagger.yaml").write_text(
        "dagger:\n  iterations: 2\n  beta: [1.0, 0.0]\n  games: 2\n  examples_per_episode: 0\n  epochs: 1\n"
    )
    config = ("--configfile", str(TINY), "dagger.yaml")
    proc = snakemake(wd, "results/dagger/iter2/model", *config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = wd / "results"
    first = json.loads((res / "dagger" / "iter1" / "manifest.json").read_text())["counts"]
    assert first["teacher_steps"] == first["steps"] > 0  # beta 1: the teacher played every step
    second = json.loads((res / "dagger" / "iter2" / "manifest.json").read_text())["counts"]
    assert second["teacher_steps"] == 0 and second["labelled_states"] > 0  # beta 0: the base alone
    labels = list(read_trajectories(res / "dagger" / "iter2" / "labels.jsonl"))
    assert len(labels) == second["examples"] == round(second["labelled_states"] * (1 - second["base_agrees"]))
    assert all(t.steps[-1].source == "teacher" and t.steps[-1].observation == "" for t in labels)
    trained = json.loads((res / "dagger" / "iter2" / "model" / "manifest.json").read_text())
    assert trained["counts"]["examples"] == first["examples"] + second["examples"]  # the aggregate of both iterations
    plan = snakemake(wd, "-n", "-p", "results/round0/eval.json", *config)
    commands = [line for line in plan.stdout.splitlines() if re.search(r"-m a3t\.stages\.(train|evaluate) ", line)]
    assert len(commands) == 2 and all("--base results/dagger/iter2/model " in c for c in commands)  # round 0 on it
    assert "a3t.stages.dagger" not in plan.stdout  # iterations 1..2 are done
