"""Stage ``rollout``: round k-1's agent plays each training task once (round k >= 1), as evaluation plays.

    python -m a3t.stages.rollout --base results/base_model --adapter results/round0/adapter \
        --games train=results/games/train/manifest.csv --round 1 --out results/round1/rollouts

The trajectories (``origin: rollout``) are what the round's filter keeps and exploration starts from.
"""

from __future__ import annotations

from a3t.agents.play import play
from a3t.io import run_cli


def main(argv: list[str] | None = None) -> None:
    play(argv, "rollout", "python -m a3t.stages.rollout", __doc__)


if __name__ == "__main__":
    run_cli(main)
