"""``a3t pool RESULTS RESULTS ...``: runs of one config with different seeds, each round against its own round 0, pooled.

For every round k >= 1 that all the trees have, and each evaluation split they all played at round 0 and k:
per tree, the games round k won and its round 0 did not (gained) and the reverse (lost), on the same games,
with McNemar's exact p; pooled, the exact test of the summed discordant games. That is the conditional test
of a McNemar stratified by seed: under the null, in every seed a discordant game is as likely gained as
lost, so the pooled gains are binomial(gained + lost, 1/2). Holm's adjustment is over the rounds tested, per
split. Then each tree's accumulated success at round k, and per task type the games won at round 0 and k
(a type that falls; pick-two rising or not). Prints Markdown; ``--out`` writes it to a file too, ``--plot`` a
figure: each tree's success by round, and the pooled test above each round.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from a3t.io import A3TError, atomic_write_text, jsonl_path, read_json, round_number, save_figure
from a3t.outcomes import discordant
from a3t.stats import holm, mcnemar_exact_p
from a3t.trajectory import read_trajectories


def outcomes(tree: Path, k: int, split: str) -> dict[str, tuple[str, bool]] | None:
    """task id -> (task type, won) of round ``k``'s evaluation on ``split`` in ``tree``; None if it did not play it."""
    path = jsonl_path(tree / f"round{k}" / "eval" / f"{split}.jsonl")
    return {t.task_id: (t.task_type, t.won) for t in read_trajectories(path)} if path.is_file() else None


def _won(outcome: dict[str, tuple[str, bool]]) -> dict[str, bool]:
    return {task: won for task, (_, won) in outcome.items()}


def rounds_of(tree: Path) -> set[int]:
    """The rounds ``round<k>/`` of ``tree`` with an eval.json; other folders (``round0-float32/``) are not rounds."""
    rounds = (round_number(d.name) for d in tree.glob("round*") if (d / "eval.json").is_file())
    return {k for k in rounds if k is not None}


def pooled_rows(trees: list[Path]) -> list[dict]:
    """One row per (split, round k >= 1): each tree's gained/lost/p against its round 0, the pooled test, Holm's p."""
    missing = [t for t in trees if 0 not in rounds_of(t)]
    if missing:
        raise A3TError(f"{missing[0]}: no round0/eval.json (a run's results/ folder was expected)")
    common = set.intersection(*(rounds_of(t) for t in trees)) - {0}
    splits = sorted(set.intersection(*(set(read_json(t / "round0" / "eval.json")["splits"]) for t in trees)))
    rows = []
    for split in splits:
        first = [outcomes(t, 0, split) for t in trees]
        tested = []
        for k in sorted(common):
            now = [outcomes(t, k, split) for t in trees]
            if any(o is None for o in now):
                continue  # a split some tree did not play at round k (eval.alfworld_rounds)
            row = {"split": split, "round": k, "gained": 0, "lost": 0, "seeds": []}
            for tree, before, after in zip(trees, first, now, strict=True):
                gained, lost = discordant(_won(after), _won(before))
                accumulated = read_json(tree / f"round{k}" / "eval.json")["splits"][split]["accumulated"]
                row["seeds"].append({
                    "tree": str(tree), "won": sum(w for _, w in after.values()), "won_round0": sum(w for _, w in before.values()),
                    "games": len(after), "gained": gained, "lost": lost, "p": mcnemar_exact_p(gained, lost),
                    "accumulated": accumulated["won"], "per_type": per_type(before, after),
                })  # fmt: skip
                row["gained"] += gained
                row["lost"] += lost
            row["p"] = mcnemar_exact_p(row["gained"], row["lost"])
            tested.append(row)
        for row, adjusted in zip(tested, holm([r["p"] for r in tested]), strict=True):
            row["holm_p"] = adjusted
        rows += tested
    return rows


def per_type(before: dict[str, tuple[str, bool]], after: dict[str, tuple[str, bool]]) -> dict[str, tuple[int, int]]:
    """task type -> (games won at round 0, games won at round k)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for outcome, column in ((before, 0), (after, 1)):
        for kind, won in outcome.values():
            out[kind][column] += won
    return {kind: (a, b) for kind, (a, b) in sorted(out.items())}


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "No round >= 1 that every tree has evaluated.\n"
    n = len(rows[0]["seeds"])
    lines = [
        "| split | round | " + " | ".join(f"tree {i + 1}: won (round 0), +/-, p, accumulated" for i in range(n))
        + " | pooled +/- | pooled p | Holm p |",
        "|" + "---|" * (n + 5),
    ]  # fmt: skip
    for r in rows:
        seeds = " | ".join(
            f"{s['won']}/{s['games']} ({s['won_round0']}), +{s['gained']} -{s['lost']}, p={s['p']:.3g}, "
            f"{s['accumulated']}/{s['games']}"
            for s in r["seeds"]
        )
        lines.append(
            f"| {r['split']} | {r['round']} | {seeds} | +{r['gained']} -{r['lost']} | {r['p']:.3g} | {r['holm_p']:.3g} |"
        )
    lines += ["", "Games won per task type, round 0 -> round k, in each tree:", ""]
    kinds = sorted({kind for r in rows for s in r["seeds"] for kind in s["per_type"]})
    lines += ["| split | round | " + " | ".join(kinds) + " |", "|" + "---|" * (len(kinds) + 2)]
    for r in rows:
        cells = [
            ", ".join(f"{s['per_type'].get(kind, (0, 0))[0]}->{s['per_type'].get(kind, (0, 0))[1]}" for s in r["seeds"])
            for kind in kinds
        ]
        lines.append(f"| {r['split']} | {r['round']} | " + " | ".join(cells) + " |")
    trees = ", ".join(f"{i + 1}: {s['tree']}" for i, s in enumerate(rows[0]["seeds"]))
    return "\n".join(lines) + f"\n\nTrees {trees}. Pooled: McNemar's exact test on the discordant games summed over the trees.\n"


def tree_label(tree: str) -> str:
    """A tree's name on the plot: its folder, or the folder above a ``results/``."""
    path = Path(tree)
    return path.parent.name if path.name == "results" and path.parent.name else path.name


def pooled_figure(rows: list[dict]):
    """Per split, each tree's single-trial success by round (games won / games), one line per tree, and above
    each round k >= 1 the pooled games gained and lost against round 0 with the pooled p and Holm's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(dict.fromkeys(r["split"] for r in rows))
    fig, axes = plt.subplots(1, len(splits), figsize=(6.5 * len(splits), 4.6), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        these = [r for r in rows if r["split"] == split]
        rounds = [0] + [r["round"] for r in these]
        for i, seed in enumerate(these[0]["seeds"]):
            won = [seed["won_round0"]] + [r["seeds"][i]["won"] for r in these]
            games = seed["games"]
            ax.plot(rounds, [w / games for w in won], marker="o", linewidth=1.8, label=tree_label(seed["tree"]))
            for k, w in zip(rounds, won, strict=True):
                ax.annotate(f"{w}", (k, w / games), textcoords="offset points", xytext=(9, -3), fontsize=6.5,
                            color=ax.lines[-1].get_color())  # fmt: skip
        for r in these:
            top = max(s["won"] / s["games"] for s in r["seeds"])
            ax.annotate(f"pooled +{r['gained']} −{r['lost']}\np={r['p']:.2g}, Holm {r['holm_p']:.2g}", (r["round"], top),
                        textcoords="offset points", xytext=(0, 8), ha="center", fontsize=6.5, color="dimgrey")  # fmt: skip
        games = these[0]["seeds"][0]["games"]
        ax.set(title=f"{split}: {games} games, each tree against its round 0", xlabel="round", ylabel="success rate")
        ax.set_ylim(-0.05, 1.12)
        ax.set_xticks(rounds)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="a3t pool", description=__doc__.splitlines()[0])
    p.add_argument("trees", nargs="+", type=Path, help="results/ folders of runs that differ only in their seed")
    p.add_argument("--out", type=Path, help="also write the Markdown here")
    p.add_argument("--plot", type=Path, help="also draw each tree's success by round and the pooled tests (PNG)")
    args = p.parse_args(argv)
    rows = pooled_rows(args.trees)
    text = markdown(rows)
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
    if args.plot:
        if not rows:
            raise A3TError(f"{args.plot}: nothing to plot: no round >= 1 that every tree has evaluated")
        save_figure(pooled_figure(rows), args.plot)
