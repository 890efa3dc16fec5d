"""The paper's prompted teacher and ActRe through an OpenAI-compatible endpoint, against a local server."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from a3t.agents.endpoint import Endpoint
from a3t.agents.prompted import actre_prompt, examples, react_prompt
from a3t.io import A3TError
from a3t.trajectory import Step, read_trajectories
from tests.fake_openai import ACTRE_ANSWER, FakeOpenAI, closed_port_url
from tests.workflow import TINY, snakemake, stage_settings


def test_react_prompt_shows_the_same_type_in_the_game_grammar():
    steps = [Step("think: I need a mug.", "OK."), Step("go to countertop 1", "On the countertop 1, you see a mug 1.")]
    ex = examples()["pick_and_place_simple"]
    for grammar, placing in (("move", "> move "), ("put", "> put ")):
        prompt = react_prompt("pick_and_place_simple", grammar, "Your task is to: put a mug in sinkbasin.", steps)
        assert prompt.startswith("Interact with a household") and ex.initial_observation in prompt
        assert placing in prompt and " in/on " in prompt if grammar == "put" else " to " in prompt
        assert prompt.endswith("Here is the task.\nYour task is to: put a mug in sinkbasin.\n> think: I need a mug.\nOK.\n"
                               "> go to countertop 1\nOn the countertop 1, you see a mug 1.\n>")  # fmt: skip
    assert "> move " not in react_prompt("pick_and_place_simple", "put", "o", [])


def test_actre_prompt_is_table_11():
    steps = [Step("think: The mug may be on the countertop.", "OK."), Step("go to countertop 1", "You see a mug 1.")]
    prompt = actre_prompt("pick_and_place_simple", "move", "Your task is to: x.", steps, "take mug 1 from countertop 1")
    assert prompt.endswith(
        "Here is the task.\nYour task is to: x.\nAction: act[go to countertop 1]\n"
        "Reason for the action: The mug may be on the countertop.\nObservation: You see a mug 1.\n"
        "Action: act[take mug 1 from countertop 1]\nReason for the action:"
    )


def test_retries_cache_and_budget(tmp_path):
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI(fail_first=2) as server:
        ep = Endpoint(server.url, "teacher", cache=cache, retries=3, max_requests=2)
        prompt = react_prompt("pick_and_place_simple", "move", "Your task is to: put some mug on countertop.", [])
        first = ep.complete(prompt)
        assert first.strip().startswith("think:") and len(server.requests) == 3  # two 500s retried
        assert ep.complete(prompt) == first and len(server.requests) == 3  # cached
        rerun = Endpoint(server.url, "teacher", cache=cache, max_requests=1)  # a rerun: answers from disk
        assert rerun.complete(prompt) == first and rerun.stats() == {"requests": 0, "cache_hits": 1}
        other = react_prompt("pick_and_place_simple", "move", "Your task is to: put some apple on countertop.", [])
        rerun.complete(other)
        with pytest.raises(A3TError, match="request budget of 1 spent"):
            rerun.complete(other.replace("apple", "pear"))
        assert server.requests[-1]["stop"] == ["\n"] and server.requests[-1]["temperature"] == 0.0


def test_endpoint_down_is_one_clear_error():
    start = time.monotonic()
    with pytest.raises(A3TError, match="failed after retries"):
        Endpoint(closed_port_url(), "teacher", retries=1, timeout=5).complete("hello")
    assert time.monotonic() - start < 30


def _demos(games_dir, out, url, *extra):
    args = ["--games", str(games_dir / "manifest.csv"), "--out", str(out), "--players", "prompted", "--workers", "0"]
    args += ["--endpoint-url", url, "--endpoint-model", "teacher", "--step-limit", "40", *extra]
    return subprocess.run([sys.executable, "-m", "a3t.stages.demos", *args], capture_output=True, text=True, timeout=600)


def test_round0_teacher_through_the_endpoint_and_a_rerun_pays_nothing(games_dir, tmp_path):
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI() as server:
        proc = _demos(games_dir, tmp_path / "a" / "demos.jsonl", server.url, "--endpoint-cache", str(cache))
        assert proc.returncode == 0, proc.stderr[-2000:]
        asked = len(server.requests)
        proc = _demos(games_dir, tmp_path / "b" / "demos.jsonl", server.url, "--endpoint-cache", str(cache))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len(server.requests) == asked  # every answer came from the cache
    trajs = list(read_trajectories(tmp_path / "a" / "demos.jsonl"))
    assert len(trajs) >= 5 and all(t.won and t.origin == "teacher" for t in trajs)  # 6 games; cool needs > 40 steps
    assert all(s.source == "teacher" for t in trajs for s in t.steps) and any(s.is_thought for s in trajs[0].steps)
    assert (tmp_path / "a" / "demos.jsonl").read_bytes() == (tmp_path / "b" / "demos.jsonl").read_bytes()
    first, second = (json.loads((tmp_path / d / "manifest.json").read_text())["counts"]["endpoint"] for d in "ab")
    assert first["requests"] == asked > 0 and second == {"requests": 0, "cache_hits": asked}


def test_endpoint_down_stops_the_teacher_without_output(games_dir, tmp_path):
    cache = ["--endpoint-cache", str(tmp_path / "cache.jsonl")]  # not the default's results/cache/ of the cwd
    proc = _demos(games_dir, tmp_path / "out" / "demos.jsonl", closed_port_url(), "--endpoint-retries", "1", *cache)
    assert proc.returncode == 2 and "failed after retries" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_exploration_with_the_endpoint_as_actre(tiny_run, tmp_path):
    res = tiny_run / "results"
    with FakeOpenAI() as server:
        args = ["--base", str(res / "base_model"), "--adapter", str(res / "round0" / "adapter"), "--merge", "--quantize"]
        args += ["--rollouts", str(res / "round1" / "rollouts" / "train.jsonl"), "--games", str(res / "games/train/manifest.csv")]
        args += ["--out", str(tmp_path / "explore.jsonl"), "--samples", "1", "--p-sample", "0.5", "--step-limit", "10"]
        args += ["--actre", "endpoint", "--endpoint-url", server.url, "--endpoint-model", "teacher", "--workers", "0"]
        args += ["--endpoint-cache", str(tmp_path / "cache.jsonl")]  # not the default's results/cache/ of the cwd
        proc = subprocess.run([sys.executable, "-m", "a3t.stages.explore", *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    trajs = list(read_trajectories(tmp_path / "explore.jsonl"))
    asked = [r for r in server.requests if r["prompt"].endswith("Reason for the action:")]
    assert asked and len(asked) == sum(s.source == "actre" for t in trajs for s in t.steps)  # one reason per request
    reasons = [(a, b) for t in trajs for a, b in zip(t.steps, t.steps[1:], strict=False) if a.source == "actre"]
    assert reasons  # (a reason that used the last step of an episode has no action after it)
    for thought, sampled in reasons:  # the server's reason, cut at the stop string, before the action it explains
        assert thought.action == "think: " + ACTRE_ANSWER.format(action=sampled.action) and sampled.source == "sampled"


def test_dry_run_with_the_endpoint_config_names_it_in_the_jobs(tiny_run):
    config = yaml.safe_load(TINY.read_text())
    config["teacher"]["source"] = "endpoint"
    config["explore"]["actre"] = "endpoint"
    config["endpoint"] = {"base_url": "http://gpu:8000/v1", "model": "gpt-3.5-turbo-instruct"}
    path = tiny_run / "endpoint.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tiny_run, "-n", "-p", "results/round1/eval.json", "--configfile", str(path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "--players prompted" in out
    (explore,) = stage_settings(out, "explore")
    assert explore["explore"]["actre"] == "endpoint" and explore["endpoint"]["base_url"] == "http://gpu:8000/v1"
    assert all(s["endpoint"]["model"] == "gpt-3.5-turbo-instruct" for s in stage_settings(out, "demos"))
    endpoint = explore["endpoint"]
    assert endpoint["cache"] == "results/cache/endpoint.jsonl" and endpoint["api_key_env"] == "OPENAI_API_KEY"
    train = [line for line in out.splitlines() if "-m a3t.stages.train" in line]
    assert train and all(" --actre" not in line for line in train)  # no self-ActRe view to learn
