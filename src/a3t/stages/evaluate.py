"""Stage ``evaluate``: the agent (base + adapter) plays every game of each split once (single trial).

    python -m a3t.stages.evaluate --base results/base_model --adapter results/round0/adapter \
        --games valid_unseen=results/games/valid_unseen/manifest.csv --out results/round0/eval

Writes ``<out>/<split>.jsonl`` (trajectories) and ``<out>/eval.json``: success overall and per task
type, counts and mean steps, computed from those trajectories (:func:`a3t.outcomes.summarize`). With
``--previous`` (the round before's eval.json) it adds the paper's accumulated success: a task counts
as solved if any agent of rounds 0..k solved it. Stage ``rollout`` (a3t.stages.rollout) plays the
training games the same way. ``--shard IofN`` plays one shard of each split's games (a3t.shards; the
workflow gathers them). The body is a3t.agents.play's.
"""

from __future__ import annotations

from a3t.agents.play import play
from a3t.io import run_cli


def main(argv: list[str] | None = None) -> None:
    play(argv, "eval", "python -m a3t.stages.evaluate", __doc__)


if __name__ == "__main__":
    run_cli(main)
