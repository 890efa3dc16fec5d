"""The one trajectory schema every stage reads and writes (JSONL, one trajectory per line).

A step is what the agent said and what came back: an env command and the env's feedback, or a
ReAct thought (``think: ...``) answered by ``OK.``. ``source`` says who produced the step:
``policy`` (the agent), ``teacher``/``expert`` (round-0 demonstrations), ``sampled`` (an action drawn
from the admissible commands during exploration) or ``actre`` (the rationale ActRe wrote for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from a3t.io import A3TError, read_jsonl_numbered, write_jsonl

SOURCES = ("policy", "teacher", "expert", "sampled", "actre")


@dataclass
class Step:
    action: str
    observation: str
    source: str = "policy"

    @property
    def is_thought(self) -> bool:
        return self.action.lower().startswith("think:")


@dataclass
class Trajectory:
    task_id: str
    task_type: str
    goal: str
    initial_observation: str
    steps: list[Step] = field(default_factory=list)
    won: bool = False
    origin: str = "rollout"  # expert | teacher | rollout | explore | eval
    round: int = 0
    sample: int = 0  # index among the trajectories composed for one task
    split: str = "train"

    @property
    def reward(self) -> float:
        return 1.0 if self.won else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reward"] = self.reward
        d["n_steps"] = len(self.steps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Trajectory:
        names = {f.name for f in fields(cls)}
        missing = [n for n in ("task_id", "task_type", "goal", "initial_observation", "steps") if n not in d]
        if missing:
            raise ValueError(f"missing keys {missing}")
        steps = [Step(**s) for s in d["steps"]]
        return cls(**{k: v for k, v in d.items() if k in names and k != "steps"}, steps=steps)

    def key(self) -> tuple:
        """Identity of the content, for removing duplicates across rounds."""
        return (self.task_id, self.won, tuple((s.action, s.observation) for s in self.steps))


def write_trajectories(path: str | Path, trajs: Iterable[Trajectory]) -> None:
    write_jsonl(path, (t.to_dict() for t in trajs))


def read_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Read a trajectory file; a malformed record raises naming the file and line."""
    for lineno, d in read_jsonl_numbered(path):
        try:
            yield Trajectory.from_dict(d)
        except (TypeError, ValueError) as err:
            raise A3TError(f"{path}:{lineno}: not a trajectory ({err})") from err
