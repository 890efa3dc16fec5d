"""The round-0 teacher: reads the goal, acts only on what it has seen, wins, goes astray on request; its episodes
resumed from halfway (exploration's resume) end the same."""

from __future__ import annotations

import re

import pytest

from a3t.agents.episodes import Job, run_episodes
from a3t.agents.teacher import PLAN_PLACES, parse_goal, receptacles_in
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split
from a3t.stages.demos import play
from a3t.stages.explore import exploration_jobs


def test_parse_goal_all_templates():
    assert parse_goal("pick_clean_then_place_in_recep", "clean some cloth and put it in toilet") == {
        "obj": "cloth",
        "recep": "toilet",
    }
    assert parse_goal("look_at_obj_in_light", "examine the book with the desklamp.") == {"obj": "book", "toggle": "desklamp"}
    assert parse_goal("pick_two_obj_and_place", "find two pencil and put them in drawer") == {"obj": "pencil", "recep": "drawer"}
    with pytest.raises(ValueError, match="cannot read"):
        parse_goal("pick_and_place_simple", "make me a sandwich")


def test_receptacles_in_opening():
    obs = (
        "You are in the middle of a room. Looking quickly around you, you see a cabinet 2, a sinkbasin 1, and a toilet 1."
        "\n\nYour task is to: put a clean cloth in toilet."
    )
    assert receptacles_in(obs) == ["cabinet 2", "sinkbasin 1", "toilet 1"]


@pytest.fixture(scope="module")
def teacher_trajs(games_dir):
    return play(load_split(games_dir / "manifest.csv"), ["teacher"], seed=0, workers=0, slots=6)


def test_teacher_wins_every_type_in_react_format(teacher_trajs):
    assert len(teacher_trajs) == 6 and all(t.won for t in teacher_trajs)
    for t in teacher_trajs:
        assert t.steps[0].action.startswith("think: To solve the task")
        assert all(s.observation == "OK." for s in t.steps if s.is_thought)
        assert all(s.source == "teacher" for s in t.steps)


def test_teacher_acts_only_on_what_it_has_seen(teacher_trajs):
    """Every object it takes or uses appeared in an earlier observation; it only goes to listed receptacles."""
    for t in teacher_trajs:
        listed = set(receptacles_in(t.initial_observation))
        seen_text = t.initial_observation
        for step in t.steps:
            if m := re.match(r"(?:take (\S+ \d+) from|use (\S+ \d+))", step.action):
                name = m.group(1) or m.group(2)
                assert re.search(rf"\b{name}\b", seen_text), (t.task_id, step.action)
            if step.action.startswith("go to "):
                assert step.action[len("go to ") :] in listed
            seen_text += "\n" + step.observation


def test_search_plans_name_room_places_in_room_order_and_are_followed(teacher_trajs):
    """Each plan names at most PLAN_PLACES receptacles of the room, in the room's order; the searches
    that follow a plan go to exactly its places, in that order, until the object shows up."""
    plans = 0
    for t in teacher_trajs:
        room = receptacles_in(t.initial_observation)
        for i, step in enumerate(t.steps):
            m = re.search(r"(?:more likely to appear in|Next I can check) (.*?)\.(?: I can|$)", step.action)
            if not m:
                continue
            plans += 1
            named = re.split(r", and |, | and ", m.group(1))
            assert 1 <= len(named) <= PLAN_PLACES and all(n in room for n in named), step.action
            assert named == sorted(named, key=room.index)
            visits = []
            for later in t.steps[i + 1 :]:
                if later.is_thought:
                    break
                if later.action.startswith("go to "):
                    visits.append(later.action.removeprefix("go to "))
            assert visits == named[: len(visits)] and visits, (t.task_id, step.action, visits)
    assert plans >= len(teacher_trajs)


def test_teacher_searches_instead_of_walking_straight(teacher_trajs, games_dir):
    """Over the split, the teacher visits receptacles where the object is not (it cannot know where it is)."""
    empty_visits = sum(
        1
        for t in teacher_trajs
        for s in t.steps
        if s.action.startswith("go to ") and f"a {t.task_id.split('-')[1].lower()} " not in s.observation
    )
    assert empty_visits > 0


def test_astray_episodes_fail_and_are_marked(games_dir):
    trajs = play(load_split(games_dir / "manifest.csv"), ["teacher"], seed=0, astray=1.0, step_limit=20, workers=0, slots=6)
    assert all(any(s.source == "sampled" for s in t.steps) for t in trajs)
    assert sum(t.won for t in trajs) < len(trajs)


class Follow:
    """Plays the rest of each task's recorded episode, noting how many steps it had when first asked."""

    def __init__(self, recorded):
        self.recorded = {t.task_id: t for t in recorded}
        self.first_asked = {}

    def start(self, slot, game, traj, rng):
        pass

    def act(self, trajs, admissible):
        for t in trajs.values():
            self.first_asked.setdefault(t.task_id, len(t.steps))
        return {s: (self.recorded[t.task_id].steps[len(t.steps)].action, "policy") for s, t in trajs.items()}


def test_a_job_with_a_prefix_resumes_from_the_state_it_leads_to(teacher_trajs, games_dir):
    """Exploration's resume: the prefix is replayed (its sources kept), the player first acts after it, and the episode
    goes on from that state: the rest of the teacher's actions win, with the teacher's observations."""
    games = {g.task_id: g for g in load_split(games_dir / "manifest.csv")}
    cut = {t.task_id: len(t.steps) // 2 for t in teacher_trajs}
    jobs = [Job(games[t.task_id], prefix=tuple(t.steps[: cut[t.task_id]])) for t in teacher_trajs]
    player = Follow(teacher_trajs)
    with BatchEnv(workers=0, step_limit=50) as env:
        resumed = run_episodes(jobs, player, env, slots=4, seed=0, origin="explore")
    for t, r in zip(teacher_trajs, resumed, strict=True):
        assert r.won and [(s.action, s.observation) for s in r.steps] == [(s.action, s.observation) for s in t.steps]
        assert player.first_asked[t.task_id] == cut[t.task_id]
        assert [s.source for s in r.steps] == ["teacher"] * cut[t.task_id] + ["policy"] * (len(t.steps) - cut[t.task_id])


def test_resumed_samples_cut_the_failed_episode_in_the_first_half_of_the_step_limit(teacher_trajs, games_dir):
    games = {g.task_id: g for g in load_split(games_dir / "manifest.csv")}
    failed = {t.task_id: t for t in teacher_trajs}
    jobs = exploration_jobs(games, failed, samples=4, resume=0.5, step_limit=20, seed=0)
    assert [j.sample for j in jobs] == [k for k in range(4) for _ in failed]  # sample-major
    for j in jobs:
        steps = failed[j.game.task_id].steps
        if j.sample < 2:
            assert j.prefix == ()
        else:
            assert 1 <= len(j.prefix) <= min(len(steps) - 1, 10) and list(j.prefix) == steps[: len(j.prefix)]
    again = exploration_jobs(games, failed, samples=4, resume=0.5, step_limit=20, seed=0)
    assert [len(j.prefix) for j in again] == [len(j.prefix) for j in jobs]  # the same cuts for the same seed
    assert all(not j.prefix for j in exploration_jobs(games, failed, samples=4, resume=0.0, step_limit=20, seed=0))
