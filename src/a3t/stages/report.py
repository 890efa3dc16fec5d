"""Stage ``report``: the rounds in one table (per round and task type) and three plots.

    python -m a3t.stages.report --rounds results/round0 results/round1 --out results/summary.csv --plots results/plots

Every number is counted from the trajectories each round wrote (evaluation, rollouts, exploration,
dataset) and the accumulated-solved lists of its eval.json. Rows: one per round and task type, plus
``all``. Each evaluation split has its success's Wilson 95% interval and, from round 1 on, the
comparison with the first round on the same games: the games only round k won (``gained``), those only
the first round won (``lost``) and McNemar's exact p-value, with Holm's adjustment for testing every
round against the first (``holm_p``, the ``all`` rows); and with the round before (``gained_vs_previous``,
``lost_vs_previous``: what a round forgets, per task type). The ``all`` row of summary.csv also has
the minutes of the round's jobs by stage, summed over shards, from its Snakemake benchmarks
(``results/benchmarks/round<k>``).
Writes ``summary.csv``, the overall rows and each split's games won per task type as Markdown (``summary.md``)
and, with ``--plots``, ``success.png`` (overall success by round with its 95% band and the accumulated success;
games won per task type as a heat table), ``dataset.png`` (dataset growth) and ``exploration.png`` (exploration
yield).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import pandas as pd

from a3t.io import A3TError, atomic_write_text, jsonl_path, read_json, run_cli, save_figure
from a3t.job_times import job_minutes
from a3t.outcomes import discordant
from a3t.stats import holm, mcnemar_exact_p, wilson_interval
from a3t.trajectory import Trajectory, read_trajectories

ALL = "all"


def _by_type(trajs: list[Trajectory]) -> dict[str, list[Trajectory]]:
    out: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajs:
        out[t.task_type].append(t)
        out[ALL].append(t)
    return out


def _read(path: Path) -> list[Trajectory]:
    """The trajectories of a JSONL file (or of its ``.gz``, an archived run's); none if neither exists."""
    path = jsonl_path(path)
    return list(read_trajectories(path)) if path.is_file() else []


def _won(trajs: list[Trajectory]) -> dict[str, bool]:
    return {t.task_id: t.won for t in trajs}


def round_rows(d: Path, first: Path | None = None, previous: Path | None = None) -> list[dict]:
    """The rows of one round directory (``results/round<k>``); stages a round lacks are left empty.
    With ``first`` (the first round's directory), each split is compared with it on the same games; with
    ``previous`` (the round before's), too."""
    k = int(d.name.removeprefix("round"))
    rows: dict[str, dict] = defaultdict(lambda: {"round": k})
    summary = read_json(d / "eval.json")["splits"]
    for split, s in summary.items():
        solved = set(s["accumulated"]["solved"])
        before = _by_type(_read(first / "eval" / f"{split}.jsonl")) if first else {}
        last = _by_type(_read(previous / "eval" / f"{split}.jsonl")) if previous else {}
        for kind, trajs in _by_type(_read(d / "eval" / f"{split}.jsonl")).items():
            won = sum(t.won for t in trajs)
            low, high = wilson_interval(won, len(trajs))
            rows[kind].update({
                f"{split}_won": won,
                f"{split}_games": len(trajs),
                f"{split}_success": round(won / len(trajs), 4),
                f"{split}_ci95_low": low,
                f"{split}_ci95_high": high,
                f"{split}_accumulated": round(len({t.task_id for t in trajs} & solved) / len(trajs), 4),
            })  # fmt: skip
            if kind in last:
                gained, lost = discordant(_won(trajs), _won(last[kind]))
                rows[kind].update({f"{split}_gained_vs_previous": gained, f"{split}_lost_vs_previous": lost})
            if kind in before:
                gained, lost = discordant(_won(trajs), _won(before[kind]))
                rows[kind].update({
                    f"{split}_gained": gained,
                    f"{split}_lost": lost,
                    f"{split}_mcnemar_p": mcnemar_exact_p(gained, lost),
                })  # fmt: skip
    for kind, trajs in _by_type(_read(d / "rollouts" / "train.jsonl")).items():
        rows[kind]["train_success"] = round(sum(t.won for t in trajs) / len(trajs), 4)
    if jsonl_path(d / "explore" / "trajectories.jsonl").is_file():
        explored = _by_type(_read(d / "explore" / "trajectories.jsonl"))
        for kind in list(rows):
            trajs = explored.get(kind, [])
            tasks = {t.task_id for t in trajs}
            wins = sum(t.won for t in trajs)
            rows[kind].update(
                explored_tasks=len(tasks),
                explore_episodes=len(trajs),
                explore_successes=wins,
                explored_tasks_solved=len({t.task_id for t in trajs if t.won}),
                successes_per_explored_task=round(wins / len(tasks), 4) if tasks else 0.0,
            )
    data = _by_type(_read(d / "dataset" / "trajectories.jsonl"))
    for kind in list(rows):
        trajs = data.get(kind, [])
        rows[kind].update(dataset_positives=sum(t.won for t in trajs), dataset_negatives=sum(not t.won for t in trajs))
    rows[ALL].update(job_minutes(d.parent / "benchmarks" / d.name))
    return [{"task_type": kind, **row} for kind, row in sorted(rows.items(), key=lambda kv: (kv[0] != ALL, kv[0]))]


EVAL_COLUMNS = ("_won", "_games", "_success", "_ci95_low", "_ci95_high", "_accumulated", "_gained", "_lost", "_mcnemar_p",
                "_holm_p", "_gained_vs_previous", "_lost_vs_previous")  # fmt: skip


def summary_table(rounds: list[Path]) -> pd.DataFrame:
    """Every round's rows; rounds after the first are compared with the first and with the round before on the same
    games, and the first comparison's p-values Holm-adjusted across those rounds (per split, the ``all`` rows)."""
    rounds = sorted(rounds, key=lambda d: int(d.name.removeprefix("round")))
    rows = [row for i, d in enumerate(rounds) for row in round_rows(d, *((rounds[0], rounds[i - 1]) if i else ()))]
    table = pd.DataFrame(rows)
    splits = sorted({c.removesuffix("_success") for c in table.columns if c.endswith("_success") and c != "train_success"})
    for split in splits:
        if f"{split}_mcnemar_p" in table:
            tested = (table.task_type == ALL) & table[f"{split}_mcnemar_p"].notna()
            table.loc[tested, f"{split}_holm_p"] = holm(list(table.loc[tested, f"{split}_mcnemar_p"]))
    evals = [f"{split}{suffix}" for split in sorted(splits, reverse=True) for suffix in EVAL_COLUMNS]
    order = ["round", "task_type", *evals, "train_success", "explored_tasks", "explore_episodes", "explore_successes",
             "explored_tasks_solved", "successes_per_explored_task", "dataset_positives", "dataset_negatives"]  # fmt: skip
    order += sorted(c for c in table.columns if c.startswith("minutes_")) + ["minutes"]
    return table[[c for c in order if c in table.columns]]


def _count(value) -> str:
    return "" if pd.isna(value) else str(int(value))


def markdown_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The ``all`` rows as summary.md shows them: each split's success with its 95% interval, accumulated,
    against the first round on the same games (games gained and lost, McNemar's p, Holm's for all the rounds
    tested), and against the round before (games gained and lost)."""
    rows = []
    splits = _eval_splits(table)
    for _, r in table[table.task_type == ALL].iterrows():
        row = {"round": int(r["round"])}
        for split in splits:
            if pd.isna(r[f"{split}_success"]):  # a split this round did not play (eval.alfworld_rounds)
                row |= {f"{split} (95% CI)": "", f"{split} accumulated": "", f"{split} vs first round": ""}
                row[f"{split} vs round before"] = ""
                continue
            low, high = r[f"{split}_ci95_low"], r[f"{split}_ci95_high"]
            row[f"{split} (95% CI)"] = f"{r[f'{split}_success']:.3f} [{low:.3f}, {high:.3f}]"
            row[f"{split} accumulated"] = f"{r[f'{split}_accumulated']:.3f}"
            p, adjusted = r.get(f"{split}_mcnemar_p"), r.get(f"{split}_holm_p")
            row[f"{split} vs first round"] = (
                ""
                if p is None or pd.isna(p)
                else f"+{_count(r[f'{split}_gained'])} -{_count(r[f'{split}_lost'])}, p={p:.3g} (Holm {adjusted:.3g})"
            )
            gained = r.get(f"{split}_gained_vs_previous")
            row[f"{split} vs round before"] = (
                "" if gained is None or pd.isna(gained) else f"+{_count(gained)} -{_count(r[f'{split}_lost_vs_previous'])}"
            )
        row["train"] = "" if pd.isna(r.get("train_success")) else f"{r['train_success']:.3f}"
        wins, episodes = r.get("explore_successes"), r.get("explore_episodes")
        row["explore won/episodes"] = "" if episodes is None or pd.isna(episodes) else f"{_count(wins)}/{_count(episodes)}"
        row["dataset +/-"] = f"+{_count(r['dataset_positives'])} / -{_count(r['dataset_negatives'])}"
        rows.append(row)
    return pd.DataFrame(rows)


def per_type_rows(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """Each task type's games won / games on ``split``, one column per round, and from the second round on the games
    gained and lost against the round before (what a round forgets, per type); ``all`` last."""
    rounds = sorted(table["round"].unique())
    indexed = table.set_index(["task_type", "round"])
    rows = []
    for kind in [*sorted(set(table.task_type) - {ALL}), ALL]:
        row = {"task type": kind}
        for k in rounds:
            r = indexed.loc[(kind, k)] if (kind, k) in indexed.index else None
            if r is None or pd.isna(r.get(f"{split}_won")):
                row[f"round {k}"] = ""
                continue
            cell = f"{_count(r[f'{split}_won'])}/{_count(r[f'{split}_games'])}"
            gained = r.get(f"{split}_gained_vs_previous")
            if gained is not None and not pd.isna(gained):
                cell += f" (+{_count(gained)} -{_count(r[f'{split}_lost_vs_previous'])})"
            row[f"round {k}"] = cell
        rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(table: pd.DataFrame) -> str:
    """summary.md: the ``all`` rows (:func:`markdown_rows`), then per evaluation split the games won per task type
    by round, with the games gained and lost against the round before (:func:`per_type_rows`)."""
    parts = [markdown_rows(table).to_markdown(index=False)]
    for split in _eval_splits(table):
        parts += [
            f"Games won per task type on {split}, by round (in brackets: games gained and lost against the round before):",
            per_type_rows(table, split).to_markdown(index=False),
        ]
    return "\n\n".join(parts) + "\n"


def _eval_splits(table: pd.DataFrame) -> list[str]:
    return [c.removesuffix("_success") for c in table.columns if c.endswith("_success") and c != "train_success"]


def success_figure(table: pd.DataFrame, reference: dict[str, float] | None = None):
    """The figure of success.png: per evaluation split, the overall single-trial success by round (games won /
    games at each point) with its Wilson 95% band and the accumulated success beside it (``reference`` lines on
    valid_unseen); below it, each task type's games won / games per round as a heat table (a type's n is small:
    counts, not a trend)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    splits = _eval_splits(table)
    overall = table[table.task_type == ALL].set_index("round")
    per_type = table[table.task_type != ALL].set_index(["task_type", "round"])
    kinds = sorted(set(table.task_type) - {ALL})
    rounds = list(overall.index)
    played = {split: overall.dropna(subset=[f"{split}_games"]) for split in splits}  # rounds that played it
    games = {split: int(played[split][f"{split}_games"].iloc[-1]) for split in splits}
    fig, axes = plt.subplots(
        2, len(splits), figsize=(max(6.5, 1.2 * len(rounds) + 3.5) * len(splits), 4.2 + 0.42 * len(kinds) + 1.2),
        squeeze=False, gridspec_kw={"height_ratios": [4.2, 0.42 * len(kinds) + 1.2]},
    )  # fmt: skip
    cmap = LinearSegmentedColormap.from_list("success", ["#f7f7f7", "#1a9850"])
    for column, split in enumerate(splits):
        ax, these = axes[0][column], played[split]
        ax.fill_between(these.index, these[f"{split}_ci95_low"], these[f"{split}_ci95_high"], color="tab:blue", alpha=0.18,
                        linewidth=0, label="single trial: Wilson 95% interval")  # fmt: skip
        ax.plot(these.index, these[f"{split}_success"], color="tab:blue", marker="o", linewidth=2, label="single trial")
        ax.plot(these.index, these[f"{split}_accumulated"], color="black", marker="s", markersize=4, linestyle="--",
                linewidth=1.2, label="accumulated (solved by any round so far)")  # fmt: skip
        for k, row in these.iterrows():
            ax.annotate(f"{_count(row[f'{split}_won'])}/{_count(row[f'{split}_games'])}", (k, row[f"{split}_success"]),
                        textcoords="offset points", xytext=(0, -13), ha="center", fontsize=7, color="tab:blue")  # fmt: skip
            p = row.get(f"{split}_mcnemar_p")
            if p is not None and not pd.isna(p):  # against the first round: its gain, McNemar's p and Holm's
                gained, lost = int(row[f"{split}_gained"]), int(row[f"{split}_lost"])
                above = max(row[f"{split}_ci95_high"], row[f"{split}_accumulated"])  # clear of the band and the line
                ax.annotate(f"+{gained} −{lost} vs round {rounds[0]}\np={p:.2g}, Holm {row[f'{split}_holm_p']:.2g}",
                            (k, above), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=6.5,
                            color="dimgrey", bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})  # fmt: skip
        if split == "valid_unseen":
            for (label, value), dash in zip(sorted((reference or {}).items()), ((8, 3), (2, 2), (8, 2, 2, 2)), strict=False):
                ax.axhline(value, color="grey", linewidth=1.2, linestyle=(0, dash), label=label)
        ax.set(title=f"{split}: {games[split]} games, success by round", xlabel="round", ylabel="success rate")
        ax.set_ylim(-0.1, 1.12)  # room for the games-won labels under a 0 and the tests above a 1
        ax.set_xticks(rounds)
        ax.legend(fontsize=7, loc="best")
        heat = axes[1][column]
        rate = [[per_type.loc[(kind, k), f"{split}_success"] if (kind, k) in per_type.index else float("nan")
                 for k in rounds] for kind in kinds]  # fmt: skip
        heat.imshow(rate, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        for i, kind in enumerate(kinds):
            for j, k in enumerate(rounds):
                if not pd.isna(rate[i][j]):
                    row = per_type.loc[(kind, k)]
                    heat.text(j, i, f"{_count(row[f'{split}_won'])}/{_count(row[f'{split}_games'])}", ha="center",
                              va="center", fontsize=8)  # fmt: skip
        heat.set_xticks(range(len(rounds)), [f"round {k}" for k in rounds], fontsize=8)
        heat.set_yticks(range(len(kinds)), kinds, fontsize=8)
        heat.set_title(f"{split} by task type: games won / games", fontsize=9)
    fig.suptitle("Success by round (" + ", ".join(f"{split}: {n} games" for split, n in games.items()) + ")", fontsize=11)
    fig.tight_layout()
    return fig


def plot(table: pd.DataFrame, out: Path, reference: dict[str, float] | None = None) -> list[Path]:
    """success.png (:func:`success_figure`), dataset.png, exploration.png under ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out.mkdir(parents=True, exist_ok=True)
    overall = table[table.task_type == ALL].set_index("round")
    fig = success_figure(table, reference)
    paths = [save_figure(fig, out / "success.png")]
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(overall.index, overall["dataset_positives"], label="successes (+1)", color="tab:green")
    negatives = overall["dataset_negatives"]
    ax.bar(overall.index, negatives, bottom=overall["dataset_positives"], label="failures (-1)", color="tab:red")
    ax.set(title="Contrastive dataset by round (accumulated)", xlabel="round", ylabel="trajectories")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(list(overall.index))
    ax.legend()
    fig.tight_layout()
    paths.append(save_figure(fig, out / "dataset.png"))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.8))
    explored = overall.dropna(subset=["explored_tasks"]) if "explored_tasks" in overall else overall.iloc[0:0]
    ax.bar(explored.index - 0.2, explored.get("explored_tasks", []), width=0.4, label="failed tasks explored")
    ax.bar(explored.index + 0.2, explored.get("explored_tasks_solved", []), width=0.4, label="of which solved by exploration")
    ax.set(title="ActRe exploration yield by round", xlabel="round", ylabel="training tasks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(list(overall.index))
    if "train_success" in overall:
        twin = ax.twinx()
        twin.plot(overall.index, overall["train_success"], color="black", marker="o", label="train success (rollouts)")
        twin.set_ylabel("train success rate")
        twin.set_ylim(-0.02, 1.02)
        twin.legend(loc="upper center", bbox_to_anchor=(0.5, -0.24), fontsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "exploration.png"))
    plt.close(fig)
    return paths


def parse_reference(items: list[str]) -> dict[str, float]:
    """``LABEL=VALUE`` items -> {label: success rate}."""
    out = {}
    for item in items:
        label, _, value = item.rpartition("=")  # no "=": an empty label
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not label or not 0.0 <= rate <= 1.0:
            raise A3TError(f"--reference expects LABEL=RATE with a rate in [0, 1], got {item!r}")
        out[label] = rate
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.report", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", required=True, nargs="+", type=Path, help="round directories, in order")
    p.add_argument("--out", required=True, type=Path, help="summary.csv (summary.md is written beside it)")
    p.add_argument("--plots", type=Path, help="folder for success.png, dataset.png, exploration.png")
    p.add_argument("--reference", nargs="*", default=[], help="LABEL=RATE reference lines on valid_unseen (e.g. the paper's)")
    args = p.parse_args(argv)
    reference = parse_reference(args.reference)
    table = summary_table(args.rounds)
    atomic_write_text(args.out, table.to_csv(index=False))
    atomic_write_text(args.out.with_suffix(".md"), summary_markdown(table))
    if args.plots:
        plot(table, args.plots, reference)
    print(markdown_rows(table).to_string(index=False))


if __name__ == "__main__":
    run_cli(main)
