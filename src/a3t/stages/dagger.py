"""Stage ``dagger``: the embedded base model trained on the states it reaches itself (DAgger, as ALFWorld's BUTLER).

    python -m a3t.stages.dagger play --base results/base_model --games results/games/pretrain/manifest.csv \
        --iteration 1 --beta 0.5 --out results/dagger/iter1/labels.jsonl
    python -m a3t.stages.dagger train --base results/base_model --corpus results/pretrain/trajectories.jsonl \
        --labels results/dagger/iter1/labels.jsonl --out results/dagger/iter1/model

``play``: the current base plays the pretrain games (batched, as evaluation plays); at every state the
scripted teacher says, from the history alone, what it would do there (:func:`a3t.agents.corrector.teacher_step`),
and with probability ``--beta`` its step is the one executed (the rest of the time the base's own).
Where the base's own choice differs from the teacher's, the state and the teacher's step make a
training example: the history so far plus the teacher's step, written as a trajectory whose last step
(observation empty) is the label. ``train``: the base goes on training on the aggregate, the
pretraining text (every token, packed blocks, as it was pre-trained) and the labels of every iteration
so far (the loss on the label's tokens only), each block and each example weighing the same.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer

from a3t import hardware
from a3t.agents.corrector import teacher_step
from a3t.agents.episodes import Job, episode_rng, run_episodes
from a3t.agents.llm import LLMPlayer
from a3t.agents.lm_training import corpus_blocks, train_and_save, training_args
from a3t.agents.player_args import add_agent_args, agent_from_args
from a3t.agents.prompts import fit_messages, trajectory_messages
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split
from a3t.io import A3TError, atomic_dir, run_cli
from a3t.manifest import write_manifest
from a3t.settings import add_setting, default, parse_stage_args
from a3t.trajectory import Step, Trajectory, read_trajectories, write_trajectories


class MixedPlayer:
    """The base and the teacher at each state: the base's step or, with probability ``beta``, the teacher's.
    Every state's teacher step is kept beside the base's own: ``labels[(task_id, sample)]`` lists
    (step index, the base's step, the teacher's step)."""

    def __init__(self, learner: LLMPlayer, beta: float):
        self.learner, self.beta = learner, beta
        self.rng: dict[int, random.Random] = {}
        self.episode: dict[int, tuple[str, int]] = {}
        self.labels: dict[tuple[str, int], list[tuple[int, str, str]]] = {}

    def start(self, slot, game, traj, rng) -> None:
        self.learner.start(slot, game, traj, rng)
        self.rng[slot], self.episode[slot] = rng, (traj.task_id, traj.sample)
        self.labels[self.episode[slot]] = []

    def act(self, trajs: dict[int, Trajectory], admissible: dict[int, list[str]]) -> dict[int, tuple[str | None, str]]:
        own = self.learner.act(trajs, admissible)
        out = {}
        for slot, traj in trajs.items():
            label, mine = teacher_step(traj), own[slot][0]
            if label is not None:
                self.labels[self.episode[slot]].append((len(traj.steps), mine, label))
            teacher_turn = label is not None and self.rng[slot].random() < self.beta
            out[slot] = (label, "teacher") if teacher_turn else (mine, "policy")
        return out


def examples(traj: Trajectory, labels: list[tuple[int, str, str]], limit: int, rng: random.Random) -> list[Trajectory]:
    """The states where the base's step differed from the teacher's, each as the history plus the teacher's
    step (at most ``limit`` of them, drawn by ``rng``; 0: all)."""
    wrong = [(t, label) for t, mine, label in labels if mine != label and t <= len(traj.steps)]
    if limit and len(wrong) > limit:
        wrong = sorted(rng.sample(wrong, limit))
    out = []
    for t, label in wrong:
        history = [Step(s.action, s.observation, s.source) for s in traj.steps[:t]]
        out.append(
            Trajectory(
                traj.task_id,
                traj.task_type,
                traj.goal,
                traj.initial_observation,
                steps=[*history, Step(label, "", "teacher")],
                origin="dagger",
                sample=t,
                split=traj.split,
            )
        )
    return out


def play(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.dagger play", description="the base plays, the teacher labels")
    add_agent_args(p, adapter_help="unused: the base plays alone")
    p.add_argument("--games", required=True, type=Path, help="the pretrain split's manifest.csv")
    p.add_argument("--out", required=True, type=Path, help="the labelled states, trajectories JSONL")
    p.add_argument("--iteration", type=int, required=True, help="1, 2, ...: seeds the draw of games and turns")
    p.add_argument(
        "--beta", type=float, default=default("dagger.beta")[0], help="probability that the teacher's step is executed"
    )
    add_setting(p, "dagger.games", "--games-count", dest="games_count")
    add_setting(p, "dagger.examples_per_episode")
    args = parse_stage_args(p, argv)
    if not 0.0 <= args.beta <= 1.0:
        raise A3TError(f"--beta must be in [0, 1], got {args.beta}")
    if args.adapter:
        raise A3TError("dagger play: the base plays alone, without --adapter")
    torch.set_num_threads(args.threads)
    games = load_split(args.games)
    if args.games_count and args.games_count < len(games):
        games = sorted(
            random.Random(f"{args.seed}/dagger/{args.iteration}").sample(games, args.games_count), key=lambda g: g.task_id
        )
    seed = args.seed * 1000 + args.iteration  # each iteration its own turns and draws
    compute = hardware.resolve_arg(args)
    player = MixedPlayer(agent_from_args(args), args.beta)
    with BatchEnv(workers=args.workers, step_limit=args.step_limit) as env:
        jobs = [Job(g) for g in games]
        trajs = run_episodes(jobs, player, env, args.batch_size, seed, origin="dagger", split="pretrain", desc="dagger")
    labelled: list[Trajectory] = []
    for traj in trajs:
        rng = episode_rng(seed, traj.task_id, 1)
        labelled += examples(traj, player.labels[(traj.task_id, traj.sample)], args.examples_per_episode, rng)
    write_trajectories(args.out, labelled)
    steps = sum(len(t.steps) for t in trajs)
    teacher_steps = sum(s.source == "teacher" for t in trajs for s in t.steps)
    states = sum(len(v) for v in player.labels.values())
    agreed = sum(mine == label for v in player.labels.values() for _, mine, label in v)
    counts = {
        "episodes": len(trajs),
        "won": sum(t.won for t in trajs),
        "steps": steps,
        "teacher_steps": teacher_steps,
        "labelled_states": states,
        "base_agrees": round(agreed / states, 4) if states else 0.0,
        "examples": len(labelled),
    }
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "workers", "threads")}
    write_manifest(args.out.parent, "dagger_play", config, inputs=[args.games], compute=compute, **counts)
    print(json.dumps(counts))


def encode_label(traj: Trajectory, tok, max_len: int) -> dict:
    """Token ids of the history (oldest steps dropped to fit) and labels on the last (the teacher's) step only."""
    msgs = fit_messages(trajectory_messages(traj)[:-1], tok, max_len - 2)  # the empty observation after the label
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = list(enc["input_ids"]), list(enc["assistant_masks"])
    last = max(i for i, m in enumerate(mask) if m) if any(mask) else -1
    start = last
    while start > 0 and mask[start - 1]:
        start -= 1
    labels = [i if start <= k <= last else -100 for k, i in enumerate(ids)]
    return {"input_ids": ids[-max_len:], "labels": labels[-max_len:]}


def _pad(batch: list[dict], pad_id: int) -> dict:
    n = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), n), pad_id)
    labels = torch.full((len(batch), n), -100)
    attn = torch.zeros((len(batch), n), dtype=torch.long)
    for k, b in enumerate(batch):
        m = len(b["input_ids"])
        ids[k, :m], labels[k, :m], attn[k, :m] = torch.as_tensor(b["input_ids"]), torch.as_tensor(b["labels"]), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": attn}


class PerSequenceTrainer(Trainer):
    """Mean over the batch of each sequence's mean token NLL: a block of text and a labelled step weigh the same."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        tgt = labels[:, 1:]
        nll = F.cross_entropy(outputs.logits[:, :-1].transpose(1, 2).float(), tgt, ignore_index=-100, reduction="none")
        mask = (tgt != -100).float()
        loss = ((nll * mask).sum(1) / mask.sum(1).clamp(min=1.0)).mean()
        return (loss, outputs) if return_outputs else loss


def train(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.dagger train", description="the base trained on the aggregate")
    p.add_argument("--base", required=True, type=Path, help="the previous iteration's model")
    p.add_argument("--corpus", required=True, type=Path, help="the pretraining text (iteration 0's data)")
    p.add_argument("--labels", required=True, nargs="+", type=Path, help="every iteration's labelled states so far")
    p.add_argument("--out", required=True, type=Path)
    add_setting(p, "pretrain.block")
    add_setting(p, "train.max_len", help="most tokens of a labelled example (the agent's context)")
    add_setting(p, "dagger.epochs")
    add_setting(p, "dagger.lr")
    add_setting(p, "pretrain.batch_size")
    add_setting(p, "seed")
    p.add_argument("--threads", type=int, default=2)
    args = parse_stage_args(p, argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    blocks = corpus_blocks(list(read_trajectories(args.corpus)), tok, args.block)
    labelled = [t for path in args.labels for t in read_trajectories(path)]
    items = [{"input_ids": b["input_ids"].tolist(), "labels": b["labels"].tolist()} for b in blocks]
    items += [encode_label(t, tok, args.max_len) for t in labelled]
    with atomic_dir(args.out) as tmp:
        targs = training_args(
            tmp,
            args.batch_size,
            args.epochs,
            args.lr,
            args.seed,
            data_seed=args.seed,
            remove_unused_columns=False,
            train_sampling_strategy="group_by_length",
        )
        trainer = PerSequenceTrainer(
            model=model, args=targs, train_dataset=items, data_collator=lambda b: _pad(b, tok.pad_token_id)
        )
        result, losses = train_and_save(trainer, tok, tmp)
        counts = {"blocks": len(blocks), "examples": len(labelled), "final_loss": losses[-1] if losses else None}
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("labels", "threads")}
        write_manifest(tmp, "dagger_train", config, inputs=[args.corpus, *args.labels], **counts)
    print(json.dumps({**counts, "train_seconds": round(result.metrics["train_runtime"], 1)}))


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("play", "train"):
        raise A3TError("usage: python -m a3t.stages.dagger {play,train} ...")
    (play if argv[0] == "play" else train)(argv[1:])


if __name__ == "__main__":
    run_cli(main)
