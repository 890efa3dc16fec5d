"""Play many episodes at once: players choose actions for all live episodes, a BatchEnv steps them.

A player has ``start(slot, game, trajectory, rng)`` and ``act({slot: trajectory}, {slot: admissible})``
returning ``{slot: (action, source)}``, or ``None`` as the action to end an episode early.
Episodes join the batch as slots free up; results come back in job order. A job with a ``prefix`` replays
those steps first (the games are deterministic), and the player acts from the state they lead to.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from tqdm import tqdm

from a3t.envs.batch import BatchEnv
from a3t.envs.games import Game
from a3t.trajectory import Step, Trajectory


@dataclass(frozen=True)
class Job:
    game: Game
    sample: int = 0
    prefix: tuple[Step, ...] = ()  # steps replayed before the player acts: the episode resumes after them


class Player(Protocol):
    def start(self, slot: int, game: Game, traj: Trajectory, rng: random.Random) -> None: ...

    def act(self, trajs: dict[int, Trajectory], admissible: dict[int, list[str]]) -> dict[int, tuple[str | None, str]]: ...


def episode_rng(seed: int, task_id: str, sample: int) -> random.Random:
    return random.Random(f"{seed}/{task_id}/{sample}")


def run_episodes(
    jobs: list[Job],
    player: Player,
    env: BatchEnv,
    slots: int,
    seed: int,
    origin: str,
    round: int = 0,
    split: str = "train",
    desc: str = "episodes",
    stop_after_wins: int = 0,
) -> list[Trajectory]:
    """Play every job to its end (win, step limit, or the player stopping) and return the trajectories.

    With ``stop_after_wins`` > 0, a job whose task already has that many wins is skipped (left out).
    """
    results: list[Trajectory | None] = [None] * len(jobs)
    wins: dict[str, int] = {}
    queue = list(range(len(jobs)))[::-1]
    live: dict[int, int] = {}  # slot -> job index
    replay: dict[int, list[Step]] = {}  # slot -> its job's prefix steps still to replay
    trajs: dict[int, Trajectory] = {}
    admissible: dict[int, list[str]] = {}
    with tqdm(total=len(jobs), desc=desc, unit="ep", mininterval=5) as bar:
        while queue or live:
            starting = {}
            for slot in range(slots):
                while slot not in live and queue:
                    k = queue.pop()
                    if stop_after_wins and wins.get(jobs[k].game.task_id, 0) >= stop_after_wins:
                        bar.update(1)
                        continue
                    live[slot] = k
                    job = jobs[live[slot]]
                    starting[slot] = (job.game.game_file, job.game.goal)
            for slot, first in env.reset(starting).items():
                job = jobs[live[slot]]
                g = job.game
                trajs[slot] = Trajectory(
                    g.task_id, g.task_type, g.goal, first.observation, origin=origin, round=round, sample=job.sample, split=split
                )
                admissible[slot] = first.admissible
                replay[slot] = list(job.prefix)
                player.start(slot, g, trajs[slot], episode_rng(seed, g.task_id, job.sample))
            acting = [s for s in live if not replay[s]]
            choices = player.act({s: trajs[s] for s in acting}, {s: admissible[s] for s in acting}) if acting else {}
            for slot in live:
                if replay[slot]:
                    step = replay[slot].pop(0)
                    choices[slot] = (step.action, step.source)
            finished = [s for s, (action, _) in choices.items() if action is None]
            results_now = env.step({s: a for s, (a, _) in choices.items() if a is not None})
            for slot, res in results_now.items():
                trajs[slot].steps.append(Step(choices[slot][0], res.observation, choices[slot][1]))
                admissible[slot] = res.admissible
                if res.done:
                    trajs[slot].won = res.won
                    wins[trajs[slot].task_id] = wins.get(trajs[slot].task_id, 0) + res.won
                    finished.append(slot)
            for slot in finished:
                results[live.pop(slot)] = trajs.pop(slot)
                bar.update(1)
    return [t for t in results if t is not None]


class ScriptPlayer:
    """A player made of one generator per episode (``make(game, first_observation, rng)``).

    ``astray`` is the share of episodes that, from a random step on, pick random admissible actions.
    """

    def __init__(self, make: Callable[[Game, str, random.Random], Iterator[str]], source: str, astray: float = 0.0):
        self.make, self.source, self.astray = make, source, astray
        self._gens: dict[int, Iterator[str]] = {}
        self._astray_at: dict[int, int] = {}
        self._rng: dict[int, random.Random] = {}

    def start(self, slot, game, traj, rng):
        self._rng[slot] = rng
        self._astray_at[slot] = rng.randint(1, 12) if rng.random() < self.astray else -1
        self._gens[slot] = self.make(game, traj.initial_observation, rng)

    def act(self, trajs, admissible):
        out = {}
        for slot, traj in trajs.items():
            gen, rng = self._gens[slot], self._rng[slot]
            if 0 <= self._astray_at[slot] <= len(traj.steps):
                out[slot] = (rng.choice(admissible[slot]), "sampled")
                continue
            try:
                action = next(gen) if not traj.steps else gen.send(traj.steps[-1].observation)
            except StopIteration:
                action = None
            out[slot] = (action, self.source)
        return out
