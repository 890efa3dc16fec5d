"""Play one ALFWorld game through TextWorld: reset/step, both grammars, ReAct thoughts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
from textworld.envs.pddl import PddlEnv

from a3t.envs import memo
from a3t.envs.gamefile import load_game_file
from a3t.envs.grammar import NOTHING_HAPPENS, THINK_PREFIX, THINK_REPLY, grammar_variants, is_thought, resolve_command

__all__ = ["NOTHING_HAPPENS", "THINK_PREFIX", "THINK_REPLY", "grammar_variants", "is_thought", "resolve_command"]

memo.install()

WELCOME = "-= Welcome to TextWorld, ALFRED! =-"


def clean_observation(text: str) -> str:
    return text.replace(WELCOME, "").strip()


@dataclass
class StepResult:
    observation: str
    admissible: list[str] = field(default_factory=list)
    won: bool = False
    done: bool = False
    reward: float = 0.0
    valid: bool = True  # False when the env did not recognise the action ("Nothing happens.")


class GameEnv:
    """One TextWorld PDDL environment per game file, loaded once and reset cheaply after."""

    def __init__(self, step_limit: int = 50, planner: bool = False):
        if step_limit < 1:
            raise ValueError(f"step_limit must be >= 1, got {step_limit}")
        self.step_limit = step_limit
        self._infos = textworld.EnvInfos(won=True, admissible_commands=True, policy_commands=planner)
        self._envs: dict[str, textworld.Environment] = {}
        self._env = None
        self.steps = 0
        self.admissible: list[str] = []
        self.done = True

    def _load(self, game_file: str, goal: str | None):
        env = self._envs.get(game_file)
        if env is None:
            data = load_game_file(game_file)  # a corrupt file fails here, naming its path
            if goal and "UNKNOWN GOAL" in data["grammar"]:  # older files: the goal lives in traj_data.json
                data["grammar"] = data["grammar"].replace("UNKNOWN GOAL", goal)
            env = AlfredDemangler(PddlEnv(self._infos))
            env.load(data)
            self._envs[game_file] = env
        return env

    def reset(self, game_file: str | Path, goal: str | None = None) -> StepResult:
        """Start an episode of ``game_file``; ``goal`` fills in files whose grammar says UNKNOWN GOAL."""
        self._env = self._load(str(game_file), goal)
        state = self._env.reset()
        self.steps, self.done = 0, False
        self.admissible = list(state["admissible_commands"])
        self.policy = state.get("policy_commands")
        self.names = {key: info.name for key, info in state["_entity_infos"].items()}
        return StepResult(clean_observation(state["feedback"]), self.admissible, bool(state["won"]))

    def step(self, action: str) -> StepResult:
        if self._env is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        self.steps += 1
        if is_thought(action):
            res = StepResult(THINK_REPLY, self.admissible)
        else:
            command = resolve_command(action, self.admissible)
            if command in self.admissible:
                state, reward, _ = self._env.step(command)
                self.admissible = list(state["admissible_commands"])
                res = StepResult(clean_observation(state["feedback"]), self.admissible, bool(state["won"]), reward=float(reward))
            else:  # what TextWorld answers to a command it does not know, without its ~50 ms of recomputing the same state
                res = StepResult(NOTHING_HAPPENS, self.admissible, valid=False)
        res.done = self.done = res.won or self.steps >= self.step_limit
        return res

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


def planner_walkthrough(game_file: str | Path) -> list[str]:
    """Plan a game that ships no walkthrough (older ALFWorld files) with TextWorld's Fast Downward."""
    env = GameEnv(planner=True)
    try:
        env.reset(game_file)
        return list(env.policy or [])
    except KeyError as err:  # TextWorld's planner raises KeyError on unsolvable problems
        raise RuntimeError(f"{game_file}: planner failed ({err!r})") from err
    finally:
        env.close()


def replay(env: GameEnv, game_file: str | Path, walkthrough: list[str]) -> bool:
    """Replay ``walkthrough`` from a reset; True when every command is admissible and it ends in a win."""
    res = env.reset(game_file)
    for command in walkthrough:
        if res.done or command not in res.admissible:
            return False
        res = env.step(command)
    return res.won
