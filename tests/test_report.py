"""report.benchmark_jobs: Snakemake's benchmark files read into job rows (summary.csv's minutes, pipeline_bench)."""

from __future__ import annotations

import re

import pytest

from a3t.io import A3TError
from a3t.stages.report import benchmark_jobs, job_minutes

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
