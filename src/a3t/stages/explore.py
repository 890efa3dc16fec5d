"""Stage ``explore``: ActRe-annotated exploration of the training tasks the agent failed.

    python -m a3t.stages.explore --base results/base_model --adapter results/round0/adapter \
        --rollouts results/round1/rollouts/train.jsonl --games results/games/train/manifest.csv \
        --out results/round1/explore/trajectories.jsonl --samples 8 --p-sample 0.3

Each failed task is played ``--samples`` times. At each step the agent either acts itself or, with
probability ``p``, takes an action sampled uniformly from the admissible commands; after 3 invalid
actions of its own in a row one is sampled by force: uniformly too (``--forced uniform``), or among
the admissible commands closest to its last invalid one (``nearest``: ``take pot 2 from stoveburner
4`` becomes ``take pot 1 from stoveburner 3``, the right command with an instance the room has). A
sampled action gets its reason from ActRe and enters the trajectory as the ReAct pair ``think:
<reason>`` / ``OK.``, then the action: the composed trajectory is in the agent's own format. ActRe
is the scripted teacher (``--actre scripted``), the prompted one (``endpoint``), or the agent's own
model (``self``), which then shares the agent's batched ``generate`` of each step. ``--shard IofN``
explores one shard of the failed tasks (a3t.shards; the workflow gathers them).

With ``--resume R``, the last R of each task's samples do not start afresh: they replay the agent's own
failed episode up to a step drawn uniformly in the first half of the step limit, then explore from there
(a task the agent half-solved, such as the first object of a pick-two placed, keeps that progress). The
composed trajectory holds the replayed steps too, so a success is an episode from the start.
"""

from __future__ import annotations

import argparse
import random
import time
from difflib import SequenceMatcher
from pathlib import Path

import torch

from a3t import hardware
from a3t.agents.actre import actre_prompt, parse_reason
from a3t.agents.endpoint import add_endpoint_args, endpoint_from_args
from a3t.agents.episodes import Job, run_episodes
from a3t.agents.llm import LLMPlayer
from a3t.agents.player_args import add_agent_args, agent_from_args
from a3t.agents.prompted import EndpointActRe, game_grammar
from a3t.agents.prompts import parse_action
from a3t.agents.scripted_actre import ScriptedActRe
from a3t.envs.batch import BatchEnv
from a3t.envs.env import NOTHING_HAPPENS
from a3t.envs.games import load_split
from a3t.io import A3TError, dumps, run_cli
from a3t.manifest import write_manifest
from a3t.outcomes import exploration_counts
from a3t.settings import add_setting, parse_stage_args
from a3t.shards import shard_of
from a3t.trajectory import Step, Trajectory, read_trajectories, write_trajectories

FORCE_AFTER = 3  # invalid actions of its own in a row before a sample is forced
_SKIP = ("look", "inventory", "help")  # admissible commands that change nothing: never sampled


def invalid_streak(steps: list[Step]) -> int:
    """Invalid env actions of the agent's own (thoughts aside) at the end of ``steps``."""
    n = 0
    for step in reversed(steps):
        if step.is_thought:
            continue
        if step.source != "policy" or step.observation != NOTHING_HAPPENS:
            break
        n += 1
    return n


def nearest(command: str, candidates: list[str]) -> list[str]:
    """The candidates most similar to ``command``, word by word (the same verb and kinds, other numbers)."""
    words = command.split()
    score = {c: SequenceMatcher(None, words, c.split()).ratio() for c in candidates}
    best = max(score.values())
    return [c for c in candidates if score[c] == best]


def choose_sample(
    rng: random.Random, p: float, steps: list[Step], admissible: list[str], forced_nearest: bool = False
) -> str | None:
    """The sampled action for this step, or None to let the agent act (forced after 3 invalid own actions)."""
    forced = invalid_streak(steps) >= FORCE_AFTER
    if not (forced or rng.random() < p):
        return None
    useful = [a for a in admissible if a not in _SKIP] or admissible
    if forced and forced_nearest:
        useful = nearest(next(s.action for s in reversed(steps) if not s.is_thought), useful)
    return rng.choice(useful)


class ExplorePlayer:
    """The agent, with some of its actions replaced by sampled ones that ActRe explains."""

    def __init__(
        self, agent: LLMPlayer, actre: LLMPlayer | EndpointActRe | ScriptedActRe, p: float, forced_nearest: bool = False
    ):
        self.agent, self.actre, self.p, self.forced_nearest = agent, actre, p, forced_nearest
        self._rng: dict[int, random.Random] = {}
        self._pending: dict[int, str] = {}  # slot -> sampled action, played after its reason
        self._grammar: dict[int, str] = {}

    def start(self, slot, game, traj, rng):
        self._rng[slot] = rng
        self._pending.pop(slot, None)
        if isinstance(self.actre, EndpointActRe):
            self._grammar[slot] = game_grammar(game)
        self.agent.start(slot, game, traj, rng)

    def act(self, trajs, admissible):
        out, policy_slots, actre_slots = {}, [], {}
        for slot in sorted(trajs):
            if slot in self._pending:
                out[slot] = (self._pending.pop(slot), "sampled")
                continue
            sampled = choose_sample(self._rng[slot], self.p, trajs[slot].steps, admissible[slot], self.forced_nearest)
            if sampled is None:
                policy_slots.append(slot)
            else:
                actre_slots[slot] = sampled
        prompts = [self.agent.prompt(s, trajs[s]) for s in policy_slots]
        keys = [(s, trajs[s].task_id, trajs[s].sample, "policy") for s in policy_slots]
        external = isinstance(self.actre, EndpointActRe | ScriptedActRe)
        if external:  # the paper's ActRe: the prompted teacher (or its scripted stand-in)
            reasons = self.actre.reasons([(trajs[s], self._grammar.get(s, ""), a) for s, a in actre_slots.items()])
        else:  # the agent's own model, in the same batched generate as the policy
            budget = self.actre.max_len - self.actre.max_new_tokens - 2
            for slot, action in actre_slots.items():
                t = trajs[slot]
                prompts.append(actre_prompt(self.actre.tok, t.initial_observation, t.steps, action, budget))
                keys.append((slot, t.task_id, t.sample, "actre"))
        replies = []
        if prompts:
            self.agent.seed_for(trajs[min(trajs)])
            allowed = [admissible[s] for s in policy_slots] + [None] * (len(prompts) - len(policy_slots))  # reasons: free
            may_think = [self.agent.may_think(trajs[s]) for s in policy_slots] + [True] * (len(prompts) - len(policy_slots))
            replies = self.agent.generate(prompts, keys, allowed, may_think)
        for slot, reply in zip(policy_slots, replies, strict=False):
            out[slot] = (parse_action(reply) or "look", "policy")
        if not external:
            reasons = [parse_reason(r) for r in replies[len(policy_slots) :]]
        for (slot, action), reason in zip(actre_slots.items(), reasons, strict=True):
            if reason:
                out[slot] = (f"think: {reason}", "actre")
                self._pending[slot] = action
            else:  # ActRe wrote nothing: the sampled action goes in without a reason
                out[slot] = (action, "sampled")
        return out


def failed_tasks(rollouts: Path) -> dict[str, Trajectory]:
    """Each task the agent failed, with its (first) failed episode, by sorted task id."""
    failed: dict[str, Trajectory] = {}
    for t in read_trajectories(rollouts):
        if not t.won:
            failed.setdefault(t.task_id, t)
    return dict(sorted(failed.items()))


def exploration_jobs(
    games: dict, failed: dict[str, Trajectory], samples: int, resume: float, step_limit: int, seed: int
) -> list[Job]:
    """Each failed task's ``samples`` jobs, sample-major (early stop bites); the last ``round(resume * samples)`` of
    a task resume its failed episode after a step drawn uniformly in ``1 .. min(steps - 1, step_limit // 2)``."""
    fresh = samples - round(resume * samples)
    jobs = []
    for k in range(samples):
        for task, traj in failed.items():
            last = min(len(traj.steps) - 1, step_limit // 2)
            if k < fresh or last < 1:
                jobs.append(Job(games[task], sample=k))
                continue
            cut = random.Random(f"{seed}/{task}/{k}/resume").randint(1, last)
            jobs.append(Job(games[task], sample=k, prefix=tuple(traj.steps[:cut])))
    return jobs


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.explore", description=__doc__.splitlines()[0])
    add_agent_args(p, adapter_help="the round-(k-1) agent's adapter (ActRe too, when it is the agent)")
    p.add_argument("--rollouts", required=True, type=Path, help="the agent's own trajectories on the training tasks")
    p.add_argument("--games", required=True, type=Path, help="the training split's manifest.csv")
    p.add_argument("--out", required=True, type=Path, help="composed trajectories JSONL")
    p.add_argument("--round", type=int, default=1)
    for key in ("samples", "early_stop", "p_sample", "forced", "resume", "temperature", "actre"):
        add_setting(p, f"explore.{key}")
    p.add_argument("--shard", default="1of1", help="IofN: explore the I-th of N shards of the failed tasks (by sorted task id)")
    add_endpoint_args(p)
    args = parse_stage_args(p, argv)
    if not 0.0 <= args.resume <= 1.0:
        raise A3TError(f"--resume must be in [0, 1], got {args.resume}")
    if not 0.0 <= args.p_sample <= 1.0:
        raise A3TError(f"--p-sample must be in [0, 1], got {args.p_sample}")
    if args.samples < 1:
        raise A3TError(f"--samples must be >= 1, got {args.samples}")
    torch.set_num_threads(args.threads)
    compute = hardware.resolve_arg(args)
    games = {g.task_id: g for g in load_split(args.games)}
    agent_failures = failed_tasks(args.rollouts)
    failed = shard_of(list(agent_failures), args.shard)
    unknown = [t for t in failed if t not in games]
    if unknown:
        raise A3TError(f"{args.rollouts}: tasks not in {args.games}: {unknown[:5]}")
    start = time.perf_counter()
    trajs: list[Trajectory] = []
    endpoint = endpoint_from_args(args) if args.actre == "endpoint" else None
    if failed:
        agent = agent_from_args(args, args.temperature)
        actre = EndpointActRe(endpoint) if endpoint else ScriptedActRe() if args.actre == "scripted" else agent
        player = ExplorePlayer(agent, actre, args.p_sample, forced_nearest=args.forced == "nearest")
        mine = {t: agent_failures[t] for t in failed}
        jobs = exploration_jobs(games, mine, args.samples, args.resume, args.step_limit, args.seed)
        with BatchEnv(workers=args.workers, step_limit=args.step_limit) as env:
            trajs = run_episodes(
                jobs, player, env, args.batch_size, args.seed, origin="explore", round=args.round,
                desc="explore", stop_after_wins=args.early_stop,
            )  # fmt: skip
    write_trajectories(args.out, trajs)
    counts = exploration_counts(trajs, len(failed))
    resumed = {(j.game.task_id, j.sample) for j in jobs if j.prefix} if failed else set()
    if resumed:
        counts["resumed"] = exploration_counts([t for t in trajs if (t.task_id, t.sample) in resumed], len(failed))
    if failed:
        counts["engine"] = agent.engine_line
    if endpoint is not None:
        counts["endpoint"] = endpoint.stats()
    skip = ("out", "workers", "threads", "endpoint_key_env", "endpoint_cache")
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in skip}
    write_manifest(args.out.parent, "explore", config, inputs=[args.rollouts, args.games], compute=compute, **counts)
    print(dumps(counts), f"in {time.perf_counter() - start:.0f} s")  # wall time in the log, not in the manifest


if __name__ == "__main__":
    run_cli(main)
