"""How precise a success rate is, and whether two agents differ on the same games."""

from __future__ import annotations

import math


def wilson_interval(won: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of ``won`` successes in ``n`` games, 95% by default; (0, 1) for no games."""
    if n == 0:
        return 0.0, 1.0
    p = won / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def mcnemar_exact_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value for two agents on the same games: ``gained`` games only the second
    won, ``lost`` games only the first won (the binomial test of the discordant pairs at 1/2)."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n
    return _rounded_p(min(1.0, 2 * tail))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` for testing them together (each adjusted p, in the given order):
    the i-th smallest times (m - i), kept non-decreasing, at most 1. It controls the family-wise error rate, as
    Bonferroni does, and rejects at least as much."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = _rounded_p(running)
    return adjusted


def _rounded_p(p: float) -> float:
    """A p-value to 4 decimals, or to 2 significant digits below 1e-4: a small p never reads as 0."""
    return round(p, 4) if p >= 1e-4 else float(f"{p:.2g}")
