"""Expert demonstrations: a game's walkthrough played through the environment."""

from __future__ import annotations

from a3t.envs.env import GameEnv
from a3t.envs.games import Game
from a3t.trajectory import Step, Trajectory


def expert_trajectory(game: Game, env: GameEnv | None = None, split: str = "train") -> Trajectory:
    """Play ``game``'s walkthrough (or a planner's plan for files without one) and record it."""
    env = env or GameEnv(step_limit=200)
    first = env.reset(game.game_file, game.goal)
    traj = Trajectory(game.task_id, game.task_type, game.goal, first.observation, origin="expert", split=split)
    for command in game.walkthrough():
        res = env.step(command)
        traj.steps.append(Step(command, res.observation, "expert"))
        if res.done:
            break
    traj.won = bool(traj.steps) and res.won
    return traj
