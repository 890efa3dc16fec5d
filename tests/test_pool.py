"""a3t pool: runs of several seeds, each round against its own round 0, pooled (stratified McNemar), Holm over rounds."""

from __future__ import annotations

import pytest

from a3t.cli import main as a3t
from a3t.io import A3TError
from a3t.pool import pooled_figure, pooled_rows
from a3t.stats import holm, mcnemar_exact_p
from tests.test_report import write_round

GAMES = [f"pick-{i}" for i in range(6)] + [f"heat-{i}" for i in range(6)]


def tree(path, rounds: list[set[str]]):
    """A run's results/ with only evaluations: round k wins the games in ``rounds[k]``."""
    for k, won in enumerate(rounds):
        write_round(path, k, {g: g in won for g in GAMES})
    return path


def test_each_tree_against_its_round0_then_the_discordant_games_pooled(tmp_path, capsys):
    a = tree(tmp_path / "a", [{"pick-0", "pick-1"}, {"pick-0", "pick-1", "heat-0", "heat-1"}, {"pick-1", *GAMES[6:]}])
    b = tree(tmp_path / "b", [{"heat-0"}, {"heat-0", "pick-0", "pick-1", "pick-2"}, {"heat-0", "pick-5"}, {"heat-0"}])
    rows = pooled_rows([a, b])
    assert [(r["split"], r["round"]) for r in rows] == [("valid_unseen", 1), ("valid_unseen", 2)]  # rounds both have
    first, second = rows
    assert [(s["gained"], s["lost"]) for s in first["seeds"]] == [(2, 0), (3, 0)]
    assert [(s["gained"], s["lost"]) for s in second["seeds"]] == [(6, 1), (1, 0)]
    assert (first["gained"], first["lost"], first["p"]) == (5, 0, mcnemar_exact_p(5, 0))
    assert (second["gained"], second["lost"], second["p"]) == (7, 1, mcnemar_exact_p(7, 1))
    assert [r["holm_p"] for r in rows] == holm([first["p"], second["p"]])
    assert second["seeds"][0]["per_type"] == {"heat": (0, 6), "pick": (2, 1)} and second["seeds"][0]["won"] == 7
    a3t(["pool", str(a), str(b), "--out", str(tmp_path / "pooled.md")])
    out = capsys.readouterr().out
    assert out == (tmp_path / "pooled.md").read_text() and "| valid_unseen | 2 | 7/12 (2), +6 -1" in out
    assert "| valid_unseen | 2 | 0->6, 1->1 | 2->1, 0->1 |" in out  # heat, then pick: tree a, tree b


def test_the_plot_draws_each_tree_by_round_and_the_pooled_tests(tmp_path):
    a = tree(tmp_path / "a" / "results", [{"pick-0", "pick-1"}, {"pick-0", "pick-1", "heat-0"}, {"pick-1", *GAMES[6:]}])
    b = tree(tmp_path / "b", [{"heat-0"}, {"heat-0", "pick-0", "pick-1", "pick-2"}, {"heat-0", "pick-5"}])
    rows = pooled_rows([a, b])
    (ax,) = pooled_figure(rows).axes
    lines = {line.get_label(): [round(y * 12) for y in line.get_ydata()] for line in ax.get_lines()}
    assert lines == {"a": [2, 3, 7], "b": [1, 4, 2]}  # games won of 12 at rounds 0, 1, 2; a results/ is named by its run
    tests = [t.get_text() for t in ax.texts if t.get_text().startswith("pooled")]
    assert tests == [f"pooled +{r['gained']} −{r['lost']}\np={r['p']:.2g}, Holm {r['holm_p']:.2g}" for r in rows]
    a3t(["pool", str(a), str(b), "--plot", str(tmp_path / "plots" / "pooled.png")])
    assert (tmp_path / "plots" / "pooled.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_that_is_no_run_is_named(tmp_path):
    with pytest.raises(A3TError, match="nothing: no round0/eval.json"):
        pooled_rows([tree(tmp_path / "a", [set(), {"pick-0"}]), tmp_path / "nothing"])


def test_a_folder_beside_the_rounds_is_no_round(tmp_path):
    a = tree(tmp_path / "a", [{"pick-0"}, {"pick-0", "pick-1"}])
    write_round(tmp_path / "replay", 0, {g: True for g in GAMES})
    (tmp_path / "replay" / "round0").rename(a / "round0-float32")  # a replay kept beside the rounds
    b = tree(tmp_path / "b", [set(), {"heat-0"}])
    (row,) = pooled_rows([a, b])
    assert (row["round"], row["gained"], row["lost"]) == (1, 2, 0)
