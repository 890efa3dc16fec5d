"""a3t archive: a finished run kept small enough to commit, from which the report counts the same table again."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from a3t.archive import archive
from a3t.cli import main as a3t
from a3t.io import A3TError
from a3t.stages import report

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def finished(tiny_run, tmp_path) -> Path:
    """A copy of the tiny run's results/ with its report written, as a finished run's tree."""
    results = shutil.copytree(tiny_run / "results", tmp_path / "results", symlinks=True)
    report.main(["--rounds", str(results / "round0"), str(results / "round1"), "--out", str(results / "summary.csv")])
    return results


def test_an_archive_keeps_what_the_report_counts_and_the_chosen_adapter(finished, tmp_path, capsys):
    out = archive(finished, tmp_path / "archive", adapters={1}, limit_mb=40)
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"summary.csv", "summary.md", "README.md", "round0/eval.json", "round1/eval.json"} <= files
    trajectories = {"eval/valid_unseen", "rollouts/train", "explore/trajectories", "dataset/trajectories"}
    assert {f"round1/{name}.jsonl.gz" for name in trajectories} <= files
    assert not [f for f in files if f.endswith(".jsonl") or f.startswith("signatures/") or "/shards/" in f and ".jsonl" in f]
    splits = ("pretrain", "train", "valid_seen", "valid_unseen")
    assert {f for f in files if f.startswith("games/")} == {f"games/{s}/manifest.csv" for s in splits}
    weights = "adapter/adapter_model.safetensors"
    assert gzip.decompress((out / f"round1/{weights}.gz").read_bytes()) == (finished / f"round1/{weights}").read_bytes()
    assert f"round0/{weights}.gz" not in files and "round0/adapter/manifest.json" in files  # round 0's: its record only

    again = tmp_path / "again.csv"
    report.main(["--rounds", str(out / "round0"), str(out / "round1"), "--out", str(again)])
    assert again.read_text() == (out / "summary.csv").read_text()  # every number, counted again from the archive
    a3t(["show", str(out / "round1/eval/valid_unseen.jsonl.gz"), "--limit", "1"])
    assert "== " in capsys.readouterr().out
    text = (out / "README.md").read_text()
    assert (finished / "summary.md").read_text().strip() in text and f"--adapter {out}/round1/adapter" in text

    second = archive(finished, tmp_path / "second", adapters={1}, limit_mb=40)
    gz = "round1/eval/valid_unseen.jsonl.gz"
    assert (second / gz).read_bytes() == (out / gz).read_bytes()  # no time stamps: the same bytes again


def test_an_unfinished_run_or_an_archive_too_large_is_refused_and_nothing_written(finished, tmp_path):
    with pytest.raises(A3TError, match=r"over --limit-mb 0\.01; the largest: base_model/model.safetensors \(0\.3 MB\)"):
        archive(finished, tmp_path / "big", adapters={1}, limit_mb=0.01)
    with pytest.raises(A3TError, match="no adapter of round 7"):
        archive(finished, tmp_path / "big", adapters={7}, limit_mb=40)
    (finished / "summary.csv").unlink()
    with pytest.raises(A3TError, match="no summary.csv: archive a finished run"):
        archive(finished, tmp_path / "big", adapters=set(), limit_mb=40)
    assert not (tmp_path / "big").exists() and not list(tmp_path.glob(".big.*"))


@pytest.mark.parametrize("run", sorted(p.parent for p in (REPO / "runs").glob("*/summary.csv")), ids=lambda p: p.name)
def test_a_committed_archive_counts_to_its_summary(run, tmp_path):
    """Each archived run under runs/: the report, run again on its episodes, gives its summary's numbers."""
    rounds = sorted((d for d in run.glob("round*") if (d / "eval.json").is_file()), key=lambda d: int(d.name[5:]))
    report.main(["--rounds", *map(str, rounds), "--out", str(tmp_path / "summary.csv")])
    committed, again = (pd.read_csv(p) for p in (run / "summary.csv", tmp_path / "summary.csv"))
    pd.testing.assert_frame_equal(again[committed.columns], committed)
