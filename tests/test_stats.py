"""Success rates with their precision, and two agents compared on the same games."""

from __future__ import annotations

import pytest

from a3t.stats import holm, mcnemar_exact_p, wilson_interval


def test_wilson_interval_matches_the_formula_and_stays_in_0_1():
    assert wilson_interval(11, 120) == (0.052, 0.1567)  # 9.2%: the default's round 0 on 120 valid_unseen games
    assert wilson_interval(4, 24) == (0.0668, 0.3585)
    assert wilson_interval(0, 2) == (0.0, 0.6576) and wilson_interval(2, 2) == (0.3424, 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(30, 120)  # the issue's goal, 25%: its interval excludes round 0's 9.2%
    assert low > 11 / 120 and low < 0.25 < high


@pytest.mark.parametrize(
    "gained, lost, p",
    [(0, 0, 1.0), (5, 5, 1.0), (0, 6, 0.0312), (6, 0, 0.0312), (3, 10, 0.0923), (0, 5, 0.0625), (1, 9, 0.0215)]
    + [(40, 10, 2.4e-05), (30, 0, 1.9e-09)],  # below 1e-4: 2 significant digits, never 0
)
def test_mcnemar_exact_p_is_the_two_sided_binomial_test_of_the_discordant_games(gained, lost, p):
    assert mcnemar_exact_p(gained, lost) == p  # by hand: 2 * sum_{i <= min} C(n, i) / 2^n, at most 1


def test_holm_multiplies_the_ith_smallest_by_m_minus_i_and_keeps_the_order():
    # the 2026-12-05 rounds 1..4 against round 0 (p of 81, 81, 87, 82 of 120 vs 72): by hand 4 x 0.017, then 3 x ...
    assert holm([0.1, 0.2, 0.017, 0.12]) == [0.3, 0.3, 0.068, 0.3]
    assert holm([0.01, 0.04]) == [0.02, 0.04]
    assert holm([0.5, 0.9, 0.6]) == [1.0, 1.0, 1.0]  # capped at 1
    assert holm([]) == [] and holm([0.03]) == [0.03]
    assert holm([2.4e-05, 0.0153]) == [4.8e-05, 0.0153]  # a small p stays above 0 (two seeds pooled: +40/-10)
