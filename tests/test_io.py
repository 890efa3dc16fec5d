"""Files: atomic writes, JSONL errors naming file and line, the trajectory schema, prompts."""

from __future__ import annotations

import gzip

import pytest

from a3t.agents.prompts import keep_recent, messages, parse_action
from a3t.io import A3TError, atomic_dir, atomic_write_text, jsonl_path, read_jsonl
from a3t.trajectory import Step, Trajectory, read_trajectories, write_trajectories


def _traj(won=True):
    return Trajectory(
        "t1",
        "pick_and_place_simple",
        "put a apple in fridge",
        "You see a fridge 1.\n\nYour task is to: put a apple in fridge.",
        [Step("think: find it", "OK.", "teacher"), Step("go to fridge 1", "The fridge 1 is closed.", "teacher")],
        won=won,
    )


def test_trajectory_roundtrip(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories(path, [_traj(), _traj(False)])
    back = list(read_trajectories(path))
    assert back == [_traj(), _traj(False)]
    assert back[0].reward == 1.0 and back[1].reward == 0.0 and back[0].steps[0].is_thought


def test_truncated_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories(path, [_traj(), _traj()])
    text = path.read_text()
    path.write_text(text[: len(text) - 20])  # cut the second line short
    with pytest.raises(A3TError, match=rf"{path}:2: not a JSON line"):
        list(read_trajectories(path))
    path.write_text('{"task_id": "x"}\n')
    with pytest.raises(A3TError, match=rf"{path}:1: not a trajectory"):
        list(read_trajectories(path))
    with pytest.raises(A3TError, match="file not found"):
        list(read_jsonl(tmp_path / "missing.jsonl"))


def test_gzipped_trajectories_read_as_they_are_and_a_cut_one_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories(path, [_traj(), _traj(False)] * 50)
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert jsonl_path(path) == path
    path.unlink()
    assert jsonl_path(path) == gz and list(read_trajectories(gz)) == [_traj(), _traj(False)] * 50
    gz.write_bytes(gz.read_bytes()[:-40])  # an archive cut short: the last lines, the stream's end and its check
    with pytest.raises(A3TError, match=rf"{gz}: unreadable after line \d+ .*truncated"):
        list(read_trajectories(gz))


def test_atomic_writes_leave_nothing_half_written(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "d") as d:
        (d / "x").write_text("partial")
        raise RuntimeError("crash")
    assert not (tmp_path / "d").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_keep_recent_keeps_opening_and_latest():
    msgs = messages("open", [Step(f"a{i}", f"o{i}") for i in range(5)])
    kept = keep_recent(msgs, [10] * len(msgs), budget=50)
    assert kept[0]["content"] == "open" and kept[-1]["content"] == "o4" and len(kept) == 5
    assert keep_recent(msgs, [1] * len(msgs), budget=100) == msgs


def test_parse_action():
    assert parse_action("  go to  cabinet 1\nnoise") == "go to cabinet 1"
    assert parse_action("> take apple 1 from fridge 1") == "take apple 1 from fridge 1"
    assert parse_action("") == ""


def test_show_marks_sources_and_outcome(tmp_path, capsys):
    from a3t.show import main as show
    from a3t.show import render

    steps = [
        Step("think: The apple may be in the cabinet.", "OK.", "actre"),
        Step("go to cabinet 1", "On the cabinet 1, you see a apple 1.", "sampled"),
        Step("take apple 1 from cabinet 1", "You pick up the apple 1 from the cabinet 1.", "policy"),
    ]
    won = Trajectory("t-won", "pick_and_place_simple", "put a apple in fridge", "You are in a room.", steps, won=True)
    lost = Trajectory("t-lost", "pick_and_place_simple", "put a apple in fridge", "You are in a room.", steps[2:])
    text = render(won).splitlines()
    assert "WON in 3 steps, reward 1" in text[0]
    assert "ActRe > think: The apple" in text[2] and "sampled > go to cabinet 1" in text[3] and "agent > take apple 1" in text[5]
    assert "OK." not in render(won)  # a thought's reply is not printed
    path = tmp_path / "t.jsonl"
    write_trajectories(path, [won, lost])
    show([str(path), "--failed"])
    out = capsys.readouterr().out
    assert "t-lost" in out and "t-won" not in out and "failed after 1 steps" in out
    with pytest.raises(A3TError, match="no trajectory matches task 'nope'"):
        show([str(path), "--task", "nope"])
