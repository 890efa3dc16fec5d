"""report: Snakemake's benchmark files read into job rows (summary.csv's minutes, pipeline_bench); rounds compared with
the first (Holm over the rounds) and with the round before."""

from __future__ import annotations

import json
import re

import pytest

from a3t.io import A3TError
from a3t.job_times import benchmark_jobs, job_minutes
from a3t.stages.report import markdown_rows, per_type_rows, summary_markdown, summary_table
from a3t.stats import holm, mcnemar_exact_p

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def run(seconds: float, rss: float = 100.0, cpu: float = 1.0) -> str:
    return f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n"


def test_a_file_of_several_runs_counts_its_last_and_shards_sum_by_rule(tmp_path):
    (tmp_path / "round1" / "evaluate").mkdir(parents=True)
    (tmp_path / "round1" / "train.tsv").write_text(HEADER + run(100.0, rss=900) + run(30.0, rss=500, cpu=55))
    (tmp_path / "round1" / "evaluate" / "1of2.tsv").write_text(HEADER + run(60.0))
    (tmp_path / "round1" / "evaluate" / "2of2.tsv").write_text(HEADER + run(90.0))
    (tmp_path / "convert_base.tsv").write_text(HEADER + run(12.0))
    jobs = benchmark_jobs(tmp_path).set_index("job")
    assert sorted(jobs.index) == ["convert_base", "round1/evaluate/1of2", "round1/evaluate/2of2", "round1/train"]
    train = jobs.loc["round1/train"]
    got = (train["rule"], train["round"], train["seconds"], train["max_rss_mb"], train["cpu_seconds"])
    assert got == ("train", "1", 30.0, 500.0, 55.0)  # the last run: a rerun's, not the first attempt's
    assert list(jobs.loc[["round1/evaluate/1of2", "round1/evaluate/2of2"], "rule"]) == ["evaluate", "evaluate"]
    assert jobs.loc["convert_base", "round"] == ""
    assert job_minutes(tmp_path / "round1") == {"minutes_evaluate": 2.5, "minutes_train": 0.5, "minutes": 3.0}
    assert job_minutes(tmp_path / "round2") == {}  # a round not run yet


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "No columns to parse"), (HEADER, "no run"), ("s\tmax_rss\n12\t100\n", "no column ['cpu_time']")],
)
def test_a_file_that_is_no_benchmark_is_named_with_why(tmp_path, text, why):
    (tmp_path / "train.tsv").write_text(HEADER + run(1.0))
    (tmp_path / "broken.tsv").write_text(text)
    with pytest.raises(A3TError, match=rf"broken.tsv: not a Snakemake benchmark \(.*{re.escape(why)}"):
        benchmark_jobs(tmp_path)


def write_round(results, k: int, won: dict[str, bool]) -> None:
    """A round folder with only its evaluation: ``won`` maps task id (``<type>-<n>``) to the outcome."""
    from a3t.outcomes import evaluation
    from a3t.trajectory import Trajectory, write_trajectories

    trajs = [
        Trajectory(task, task.split("-")[0], "g", "obs", won=w, origin="eval", split="valid_unseen") for task, w in won.items()
    ]
    (results / f"round{k}" / "eval").mkdir(parents=True)
    write_trajectories(results / f"round{k}" / "eval" / "valid_unseen.jsonl", trajs)
    result = evaluation({"valid_unseen": trajs}, k, {"splits": {}})
    (results / f"round{k}" / "eval.json").write_text(json.dumps(result))


def test_rounds_against_the_first_with_holm_and_against_the_round_before(tmp_path):
    """Round k vs round 0 (McNemar, Holm-adjusted over rounds 1..K) and vs round k-1 (what it forgot), per type."""
    games = [f"pick-{i}" for i in range(10)] + [f"heat-{i}" for i in range(10)]
    outcomes = [
        {g: g.startswith("pick") for g in games},  # round 0: every pick, no heat
        {g: g.startswith("pick") or g in ("heat-0", "heat-1", "heat-2") for g in games},  # +3 heat
        {g: g not in ("pick-0", "pick-1") and g.startswith(("pick", "heat")) for g in games},  # forgets 2 picks, +7 heat
    ]
    for k, won in enumerate(outcomes):
        write_round(tmp_path, k, won)
    table = summary_table([tmp_path / f"round{k}" for k in range(3)]).set_index(["round", "task_type"])
    columns = ["valid_unseen_gained", "valid_unseen_lost", "valid_unseen_mcnemar_p", "valid_unseen_holm_p"]
    assert list(table.loc[(1, "all"), columns]) == [3, 0, mcnemar_exact_p(3, 0), holm([0.25, mcnemar_exact_p(10, 2)])[0]]
    assert list(table.loc[(2, "all"), columns]) == [10, 2, mcnemar_exact_p(10, 2), holm([0.25, mcnemar_exact_p(10, 2)])[1]]
    previous = ["valid_unseen_gained_vs_previous", "valid_unseen_lost_vs_previous"]
    assert list(table.loc[(2, "pick"), previous]) == [0, 2] and list(table.loc[(2, "heat"), previous]) == [7, 0]
    assert table.loc[(0, "all"), columns + previous].isna().all()
    md = markdown_rows(table.reset_index()).set_index("round")
    assert (
        md.loc[2, "valid_unseen vs first round"]
        == f"+10 -2, p={mcnemar_exact_p(10, 2):.3g} (Holm {holm([0.25, mcnemar_exact_p(10, 2)])[1]:.3g})"
    )
    assert md.loc[2, "valid_unseen vs round before"] == "+7 -2" and md.loc[0, "valid_unseen vs round before"] == ""
    kinds = per_type_rows(table.reset_index(), "valid_unseen").set_index("task type")
    assert list(kinds.index) == ["heat", "pick", "all"]  # types sorted, "all" last
    assert list(kinds.loc["pick"]) == ["10/10", "10/10 (+0 -0)", "8/10 (+0 -2)"]
    assert list(kinds.loc["heat"]) == ["0/10", "3/10 (+3 -0)", "10/10 (+7 -0)"]
    assert kinds.loc["all", "round 2"] == "18/20 (+7 -2)"
    text = summary_markdown(table.reset_index())
    assert text.index("vs first round") < text.index("Games won per task type on valid_unseen") < text.index("8/10 (+0 -2)")
