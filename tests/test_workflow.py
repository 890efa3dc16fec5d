"""The whole DAG on tests/config/tiny.yaml, config errors, and the stage CLIs' bad-input messages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch
import yaml

from a3t.agents.scripted_actre import scripted_reason
from a3t.envs.games import load_split
from a3t.outcomes import summarize
from a3t.stages.explore import exploration_jobs
from a3t.stats import mcnemar_exact_p
from a3t.trajectory import Trajectory, read_trajectories
from tests.workflow import (
    CODE_CASES,
    CONFIG_CASES,
    EXPLORE,
    ROOT,
    ROUND1,
    TINY,
    changed_config,
    planned,
    snakemake,
    stage_settings,
    workflow_copy,
)


def test_round0_end_to_end(tiny_run):
    res = tiny_run / "results"
    result = json.loads((res / "round0" / "eval.json").read_text())
    assert set(result["splits"]) == {"valid_unseen", "valid_seen"}
    for split, stats in result["splits"].items():
        trajs = list(read_trajectories(res / "round0" / "eval" / f"{split}.jsonl"))
        accumulated = stats.pop("accumulated")
        assert stats == summarize(trajs)  # eval numbers come from the trajectories beside them
        assert accumulated["solved"] == sorted(t.task_id for t in trajs if t.won)  # round 0: nothing before it
        assert stats["n"] == 2 and set(stats["per_type"]) == {"pick_and_place_simple", "pick_heat_then_place_in_recep"}
        assert all(t.origin == "eval" and t.split == split for t in trajs)
    for d in ("games/train", "pretrain", "base_model", "round0/teacher", "round0/adapter", "round0/eval"):
        manifest = json.loads((res / d / "manifest.json").read_text())
        assert manifest["code_version"] and manifest["packages"]["torch"].startswith("2.13")
    assert (res / "logs" / "round0" / "train.log").stat().st_size > 0
    assert (res / "benchmarks" / "round0" / "evaluate" / "1of1.tsv").is_file()  # one shard (shards.count)
    assert (res / "benchmarks" / "round0" / "gather_eval.tsv").is_file()


def test_rounds_accumulate(tiny_run):
    res = tiny_run / "results"
    rollouts = list(read_trajectories(res / "round1" / "rollouts" / "train.jsonl"))
    assert len(rollouts) == 2 and all(t.origin == "rollout" and t.round == 1 for t in rollouts)
    explored = list(read_trajectories(res / "round1" / "explore" / "trajectories.jsonl"))
    failed = {t.task_id for t in rollouts if not t.won}
    assert {t.task_id for t in explored} == failed and len(explored) == 2 * len(failed)  # samples: 2
    for t in explored:  # every reason written by ActRe is followed by the sampled action it explains
        for a, b in zip(t.steps, t.steps[1:], strict=False):
            if a.source == "actre":
                assert a.is_thought and b.source == "sampled"
    keys = [{t.key() for t in read_trajectories(res / f"round{k}" / "dataset" / "trajectories.jsonl")} for k in (0, 1)]
    manifest = json.loads((res / "round1" / "dataset" / "manifest.json").read_text())
    assert manifest["counts"]["size"] == len(keys[1])
    assert keys[0] < keys[1]  # round 1's dataset holds round 0's, and adds what round 1 kept
    log = json.loads((res / "round1" / "adapter" / "train_log.json").read_text())
    assert log[-1]["step"] == 3  # train.max_steps: 3 whatever the dataset's size (epochs: 1 would be fewer)
    evals = [json.loads((res / f"round{k}" / "eval.json").read_text())["splits"]["valid_unseen"] for k in range(2)]
    for k, e in enumerate(evals):
        assert e["accumulated"]["won"] >= e["won"]
        if k:
            assert e["accumulated"]["won"] >= evals[k - 1]["accumulated"]["won"]


def test_exploration_with_the_scripted_actre(tiny_run, tmp_path):
    res = tiny_run / "results"
    args = [
        "--base",
        str(res / "base_model"),
        "--adapter",
        str(res / "round0" / "adapter"),
        "--merge",
        "--quantize",
        "--workers",
        "0",
    ]
    args += ["--rollouts", str(res / "round1" / "rollouts" / "train.jsonl"), "--games", str(res / "games/train/manifest.csv")]
    args += ["--out", str(tmp_path / "explore.jsonl"), "--samples", "2", "--p-sample", "0.5", "--step-limit", "12"]
    proc = subprocess.run(
        [sys.executable, "-m", "a3t.stages.explore", *args, "--actre", "scripted"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    pairs = 0
    for t in read_trajectories(tmp_path / "explore.jsonl"):
        for k, (thought, action) in enumerate(zip(t.steps, t.steps[1:], strict=False)):
            if thought.source == "actre":  # the script's reason for the sampled action after it, from the history before
                before = Trajectory(t.task_id, t.task_type, t.goal, t.initial_observation, t.steps[:k])
                assert action.source == "sampled" and thought.action == "think: " + scripted_reason(before, action.action)
                pairs += 1
    assert pairs > 0


def test_exploration_resumes_the_agents_failed_episodes(tiny_run, tmp_path):
    """--resume 1: every sample replays its task's failed rollout up to a cut, then explores; the manifest counts them."""
    res = tiny_run / "results"
    rollouts = {t.task_id: t for t in read_trajectories(res / "round1" / "rollouts" / "train.jsonl") if not t.won}
    args = ["--base", str(res / "base_model"), "--adapter", str(res / "round0" / "adapter"), "--merge", "--quantize"]
    args += ["--rollouts", str(res / "round1" / "rollouts" / "train.jsonl"), "--games", str(res / "games/train/manifest.csv")]
    args += ["--out", str(tmp_path / "explore.jsonl"), "--samples", "2", "--resume", "1", "--step-limit", "12", "--workers", "0"]
    proc = subprocess.run([sys.executable, "-m", "a3t.stages.explore", *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trajs = list(read_trajectories(tmp_path / "explore.jsonl"))
    assert rollouts and len(trajs) == 2 * len(rollouts)
    games = {g.task_id: g for g in load_split(res / "games/train/manifest.csv")}
    cuts = {(j.game.task_id, j.sample): len(j.prefix) for j in exploration_jobs(games, rollouts, 2, 1.0, 12, seed=0)}
    for t in trajs:
        cut = cuts[t.task_id, t.sample]
        assert 1 <= cut <= 6 and t.steps[:cut] == rollouts[t.task_id].steps[:cut]  # replayed as the agent played it
    counts = json.loads((tmp_path / "manifest.json").read_text())["counts"]
    assert counts["resumed"]["episodes"] == len(trajs) and counts["resumed"]["successes"] == counts["successes"]


def test_second_run_has_nothing_to_do(tiny_run):
    proc = snakemake(tiny_run, "results/round1/eval.json", "--configfile", str(TINY))
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_html_report_has_the_table_plots_and_captions(tiny_run):
    proc = snakemake(tiny_run, "results/summary.csv", "--configfile", str(TINY))
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = snakemake(tiny_run, "--configfile", str(TINY), "--report", "report.html")
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tiny_run / "report.html").read_text()
    for name in ("summary.csv", "success.png", "dataset.png", "exploration.png"):
        assert name in html
    assert "and its Wilson 95% interval (shaded)" in html  # a caption (report/success.rst)


@pytest.mark.parametrize("change, target, expected", CONFIG_CASES)
def test_config_change_reruns_exactly_downstream(tiny_run, change, target, expected):
    assert planned(tiny_run, target, None if change is None else changed_config(*change)) == expected


@pytest.mark.parametrize(
    "command_line, change, expected",
    [
        ("filter={min_successes: 2}", ("filter", "min_successes", 2), ROUND1),
        ("explore={p_sample: 0.25}", ("explore", "p_sample", 0.25), {**EXPLORE, **ROUND1}),
        ("filter={keep_failures: false}", ("filter", "keep_failures", False), ROUND1),
    ],
)
def test_nested_config_key_from_the_command_line_plans_what_an_overlay_plans(tiny_run, command_line, change, expected):
    """README's form for a nested key, a YAML mapping as --config's value: merged key by key (the section's other
    keys kept), typed by the schema, so that it reruns exactly what the same change in an overlay file reruns."""
    target = "results/round1/eval.json"
    assert planned(tiny_run, target, args=("--config", command_line)) == planned(tiny_run, target, changed_config(*change))
    assert planned(tiny_run, target, args=("--config", command_line)) == expected


def test_command_line_values_take_the_schema_types():
    """Snakemake's YAML reading of --config 'games={...}' gives every scalar as a string; the schema types them,
    in lists and free mappings too, and leaves strings where it wants strings."""
    from a3t.config import typed_command_line

    config = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    given = {
        "games": {"unseen_floorplans": ["10", "219"], "seed": "7", "task_types": ["pick_and_place_simple"]},
        "report": {"reference": {"paper": "0.96"}},
        "model": {"base": "123", "quantize": "false"},
        "filter": {"min_successes": "three"},
    }
    typed_command_line(config, given, str(ROOT / "config" / "schema.yaml"))
    assert config["games"]["unseen_floorplans"] == [10, 219] and config["games"]["seed"] == 7
    assert config["games"]["task_types"] == ["pick_and_place_simple"] and config["games"]["sizes"]  # the rest kept
    assert config["report"]["reference"] == {"paper": 0.96}
    assert config["model"]["base"] == "123" and config["model"]["quantize"] is False
    assert config["filter"]["min_successes"] == "three"  # left for the schema check to name


def test_a_dotted_config_key_stops_snakemake_with_the_line_readme_quotes(tmp_path):
    """Snakemake reads no dotted --config key, and stops before it reads the workflow: README quotes its last line
    beside the nested form that works. Nothing of a3t runs at Python start to change that (no .pth file)."""
    import sysconfig

    assert not list(Path(sysconfig.get_path("purelib")).glob("a3t*.pth"))
    wd = workflow_copy(tmp_path)
    proc = snakemake(wd, "-n", "--config", "rounds=2", "filter.min_successes=3")
    assert proc.returncode != 0
    last = (proc.stdout + proc.stderr).strip().splitlines()[-1]  # Snakemake prints its traceback on stdout
    assert last == "ValueError: Invalid config definition: Config entry must start with a valid identifier."
    readme = (ROOT / "README.md").read_text()
    assert f"`{last}`" in readme.replace("\n", " ") and "'filter={min_successes: 3}'" in readme
    assert not (wd / "results").exists()


@pytest.mark.parametrize("module, target, expected", CODE_CASES)
def test_code_change_reruns_the_rules_that_import_it(tiny_run, tmp_path, module, target, expected):
    """Each job's signature holds the a3t sources its CLI imports (a3t.signatures): an edited module reruns its
    users only; undone before anything ran, nothing reruns. The edit is made in a copy of the sources that
    the jobs import (PYTHONPATH), never in the installed package that other tests and jobs are running."""
    import a3t

    if target == "results/summary.csv":  # the report may not have been made yet
        assert snakemake(tiny_run, target, "--configfile", str(TINY)).returncode == 0
    src = tmp_path / "src"
    shutil.copytree(Path(a3t.__file__).parents[1], src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = os.environ | {"PYTHONPATH": str(src)}
    path = src / "a3t" / module
    text = path.read_bytes()
    path.write_bytes(text + b"\n# edited by a test\n")  # newer than every output, and a new checksum
    assert planned(tiny_run, target, env=env) == expected
    path.write_bytes(text)  # newer again, but the same bytes: the signature is the recorded one, nothing reruns
    assert planned(tiny_run, target, env=env) == {}


def test_adapter_reloads_and_generates(tiny_run):
    from a3t.agents.modeling import load_agent

    model, tok = load_agent(str(tiny_run / "results" / "base_model"), str(tiny_run / "results" / "round0" / "adapter"))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # trained (LoRA B starts at zero)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Your task is to: put a apple in fridge."}], tokenize=False, add_generation_prompt=True
    )
    enc = tok([prompt], return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] == enc["input_ids"].shape[1] + 5
    assert isinstance(tok.decode(out[0, enc["input_ids"].shape[1] :]), str)
    merged, _ = load_agent(str(tiny_run / "results" / "base_model"), str(tiny_run / "results" / "round0" / "adapter"), merge=True)
    assert not [n for n, _ in merged.named_parameters() if "lora" in n]  # one plain model
    with torch.no_grad():
        a, b = model(**enc).logits, merged(**enc).logits
    assert (a - b).abs().max() < 0.1 * a.abs().max()  # the same weights, up to the 4-bit path's bf16 rounding


def test_batched_cached_play_equals_one_episode_at_a_time(tiny_run):
    """Greedy: every live episode in one generate with reused prefix caches == each episode alone, uncached."""
    from a3t.agents.episodes import Job, run_episodes
    from a3t.agents.llm import LLMPlayer
    from a3t.agents.modeling import load_agent
    from a3t.envs.batch import BatchEnv
    from a3t.envs.games import load_split

    res = tiny_run / "results"
    model, tok = load_agent(str(res / "base_model"), str(res / "round0" / "adapter"), merge=True)
    games = [g for split in ("train", "valid_seen", "valid_unseen") for g in load_split(res / "games" / split / "manifest.csv")]
    played = {}
    for name, slots, reuse in (("batched", 4, True), ("alone", 1, False)):
        player = LLMPlayer(model, tok, max_len=1024, max_new_tokens=32, reuse_cache=reuse)
        with BatchEnv(workers=0, step_limit=12) as env:
            trajs = run_episodes([Job(g) for g in games], player, env, slots, seed=0, origin="eval")
        played[name] = [[(s.action, s.observation) for s in t.steps] for t in trajs]
    assert played["batched"] == played["alone"]  # (test_generation checks that rows append rather than rebuild)


@pytest.mark.parametrize(
    "bad, key",
    [
        ("bogus_key: 1\n", "bogus_key"),
        ("env: {step_limit: fifty}\n", "env.step_limit"),
        (
            "games: {source: generated, task_types: [juggling],\n"
            "        sizes: {pretrain: 1, train: 1, valid_seen: 1, valid_unseen: 1}}\n",
            "games.task_types.0",
        ),
        ("rounds: -1\n", "rounds"),
        ("env: {step_limit: 0}\n", "env.step_limit"),
        ("filter: {keep_failures: maybe}\n", "filter.keep_failures"),
        ("model: {compute_dtype: bf16}\n", "model.compute_dtype"),
    ],
)
def test_bad_config_names_the_key(tmp_path, bad, key):
    wd = workflow_copy(tmp_path)
    (tmp_path / "bad.yaml").write_text(bad)
    proc = snakemake(wd, "-n", "--configfile", "bad.yaml")
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config error at {key}" in err
    assert len(err.splitlines()) < 15  # one clear message, no traceback wall
    assert not (wd / "results").exists()


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300)


def test_missing_model_path_is_one_clear_error(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps(
            {
                "task_id": "t",
                "task_type": "pick_and_place_simple",
                "goal": "g",
                "initial_observation": "o",
                "steps": [{"action": "look", "observation": "x"}],
                "won": True,
            }
        )
        + "\n"
    )
    proc = _cli("a3t.stages.train", "--base", str(tmp_path / "no_model"), "--data", str(data), "--out", str(tmp_path / "adapter"))
    assert proc.returncode == 2
    assert "model path" in proc.stderr and "not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "adapter").exists()


def test_trainer_step_moves_likelihoods_by_reward_sign(tiny_run):
    """One optimizer step: a positive trajectory's log-likelihood rises, a negative one's falls. The NLL of the
    labelled positions alone (the output layer sees only those) is the NLL of the full logits."""
    import torch.nn.functional as F

    from a3t.agents.modeling import add_lora, load_base, load_tokenizer
    from a3t.stages.train import TrajectoryData, collate, reward_weighted_loss, sequence_nll

    base = str(tiny_run / "results" / "base_model")
    trajs = list(read_trajectories(tiny_run / "results" / "pretrain" / "trajectories.jsonl"))[:2]
    assert len(trajs) == 2
    tok = load_tokenizer(base)
    torch.manual_seed(0)
    model = add_lora(load_base(base), r=8, alpha=16, dropout=0.0, targets=["q_proj", "v_proj", "o_proj"])
    data = TrajectoryData(trajs, [1.0, -1.0], tok, 512, include_observations=False)
    batch = collate(tok.pad_token_id)([data[0], data[1]])
    weight, labels = batch.pop("weight"), batch.pop("labels")
    assert 0 < int((labels != -100).sum()) < labels.numel() // 2  # observations unlabelled: few positions kept

    def nll():
        with torch.no_grad():
            return sequence_nll(model, batch, labels)

    before = nll()
    with torch.no_grad():
        target = labels[:, 1:]
        full = F.cross_entropy(model(**batch).logits[:, :-1].transpose(1, 2).float(), target, reduction="none")
        counted = (target != -100).float()
        assert torch.allclose(before, (full * counted).sum(1) / counted.sum(1), rtol=1e-5)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    loss = reward_weighted_loss(sequence_nll(model, batch, labels), weight, neg_nll_cap=100.0)
    loss.backward()
    opt.step()
    after = nll()
    assert after[0] < before[0]  # positive: more likely
    assert after[1] > before[1]  # negative: less likely


def test_report_numbers_come_from_eval_json_and_manifests(tiny_run, tmp_path):
    """Every number of summary.csv equals the eval.json or manifest count it must agree with."""
    import pandas as pd

    res = tiny_run / "results"
    out = tmp_path / "summary.csv"
    rounds = [str(res / f"round{k}") for k in range(2)]
    proc = _cli("a3t.stages.report", "--rounds", *rounds, "--out", str(out), "--plots", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out).set_index(["round", "task_type"])
    types = ["all", "pick_and_place_simple", "pick_heat_then_place_in_recep"]
    assert list(table.index) == [(k, t) for k in range(2) for t in types] and (tmp_path / "summary.md").is_file()
    checked = set()

    def same(k, kind, column, value):
        assert table.loc[(k, kind), column] == pytest.approx(value), (k, kind, column)
        checked.add(column)

    def won(k: int, split: str) -> dict[str, bool]:
        return {t.task_id: t.won for t in read_trajectories(res / f"round{k}" / "eval" / f"{split}.jsonl")}

    for k in range(2):
        d = res / f"round{k}"
        for split, e in json.loads((d / "eval.json").read_text())["splits"].items():
            same(k, "all", f"{split}_success", e["success"])
            same(k, "all", f"{split}_won", e["won"])
            same(k, "all", f"{split}_games", e["n"])
            same(k, "all", f"{split}_accumulated", e["accumulated"]["success"])
            same(k, "all", f"{split}_ci95_low", e["ci95"][0])
            same(k, "all", f"{split}_ci95_high", e["ci95"][1])
            for kind, s in e["per_type"].items():
                same(k, kind, f"{split}_success", s["success"])
                same(k, kind, f"{split}_won", s["won"])
                same(k, kind, f"{split}_ci95_high", s["ci95"][1])
                solved = [t for t in e["accumulated"]["solved"] if t.startswith(kind)]
                same(k, kind, f"{split}_accumulated", len(solved) / s["n"])
            now, first = won(k, split), won(0, split)
            gained = sum(now[t] and not first[t] for t in now)
            lost = sum(first[t] and not now[t] for t in now)
            columns = [f"{split}_gained", f"{split}_lost", f"{split}_mcnemar_p"]
            if k == 0:
                assert table.loc[(0, "all")][columns].isna().all()
            else:
                for column, value in zip(columns, (gained, lost, mcnemar_exact_p(gained, lost)), strict=True):
                    same(k, "all", column, value)
                same(k, "all", f"{split}_holm_p", mcnemar_exact_p(gained, lost))  # one round tested: Holm's p is its own
                same(k, "all", f"{split}_gained_vs_previous", gained)  # round 1's round before is round 0
                same(k, "all", f"{split}_lost_vs_previous", lost)
        bench, seconds = res / "benchmarks" / d.name, defaultdict(float)  # a job's seconds: its last run's first column
        for tsv in bench.rglob("*.tsv"):
            last = tsv.read_text().strip().splitlines()[-1]
            seconds[tsv.relative_to(bench).parts[0].removesuffix(".tsv")] += float(last.split("\t")[0])
        assert {"dataset", "evaluate", "train"} <= set(seconds) and ("explore" in seconds) == (k > 0)
        for stage, s in seconds.items():
            same(k, "all", f"minutes_{stage}", round(s / 60, 1))
        same(k, "all", "minutes", round(sum(seconds.values()) / 60, 1))
        c = json.loads((d / "dataset" / "manifest.json").read_text())["counts"]
        same(k, "all", "dataset_positives", c["positives"])
        same(k, "all", "dataset_negatives", c["negatives"])
        assert table.loc[k, ["dataset_positives", "dataset_negatives"]].sum().sum() == 2 * c["size"]  # types add up to all
        if k == 0:
            assert table.loc[(0, "all")][["train_success", "explored_tasks"]].isna().all()
            continue
        r = json.loads((d / "rollouts" / "eval.json").read_text())["splits"]["train"]
        same(k, "all", "train_success", r["success"])
        for kind, s in r["per_type"].items():
            same(k, kind, "train_success", s["success"])
        x = json.loads((d / "explore" / "manifest.json").read_text())["counts"]
        same(k, "all", "explored_tasks", x["failed_tasks"])
        same(k, "all", "explore_episodes", x["episodes"])
        same(k, "all", "explore_successes", x["successes"])
        same(k, "all", "explored_tasks_solved", x["tasks_solved"])
        same(k, "all", "successes_per_explored_task", x["successes"] / x["failed_tasks"])
        for kind in types[1:]:
            same(k, kind, "explore_successes", x["successes_per_type"].get(kind, 0))
    assert checked == set(table.columns)  # no column left unchecked
    for name in ("success", "dataset", "exploration"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verify_names_drifted_missing_and_unrecorded_files(tiny_run, tmp_path):
    proc = _cli("a3t.verify", str(tiny_run / "results"), "--configfile", str(TINY))
    assert proc.returncode == 0 and "all match" in proc.stdout, proc.stdout[-3000:] + proc.stderr
    copy = tmp_path / "wf"
    shutil.copytree(tiny_run / "results", copy / "results", symlinks=True)
    dataset = copy / "results" / "round0" / "dataset" / "trajectories.jsonl"
    dataset.write_text(dataset.read_text().replace('"won": true', '"won": false', 1))  # an edited result
    (copy / "results" / "round1" / "eval" / "valid_seen.jsonl").unlink()
    (copy / "results" / "round1" / "eval" / "notes.txt").write_text("?")
    proc = _cli("a3t.verify", str(copy / "results"))
    out = proc.stdout
    assert proc.returncode == 1
    assert re.search(r"drifted .*round0/dataset/trajectories.jsonl \(output recorded in .*round0/dataset/manifest.json", out)
    assert re.search(r"drifted .*round0/dataset/trajectories.jsonl \(input recorded in .*round1/filtered/manifest.json", out)
    assert re.search(r"missing .*round1/eval/valid_seen.jsonl", out) and re.search(r"unrecorded .*round1/eval/notes.txt", out)


def test_default_plans_smollm2_and_scratch_builds_its_base(tmp_path):
    """`make run`'s DAG: SmolLM2 converted from its GGUF, rounds 0..4 in shards.count (2) jobs a stage, each agent
    exported for llama.cpp only where the engine is llama.cpp; config/scratch.yaml builds the 3.4M base instead."""
    wd = workflow_copy(tmp_path)
    proc = snakemake(wd, "-n", "-p")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)}
    engine = re.search(r"^a3t: engine: (\w+)", out, re.M).group(1)
    expected = {
        "convert_base": 1, "games": 3, "teacher_demos": 1, "teacher_demos_extra": 1, "dataset_round0": 1, "train": 5,
        "evaluate": 10, "rollout": 8, "explore": 8, "gather_eval": 5, "gather_rollouts": 4, "gather_explore": 4,
        "filter": 4, "dataset": 4, "report": 1, "all": 1,
    }  # fmt: skip
    if engine == "llamacpp":
        expected["export_gguf"] = 5
    assert jobs == expected | {"total": sum(expected.values())}
    assert "--gguf-file SmolLM2-135M-Instruct.Q4_1.gguf" in out and "--shard 2of2" in out
    evaluate = stage_settings(out, "evaluate")
    assert len(evaluate) == 10 and all(s == evaluate[0] for s in evaluate)
    model = evaluate[0]["model"]
    assert (model["quantize"], model["think_limit"], model["decode_chunk"], model["engine"]) == (False, 2, 12, engine)
    train = {s["train"]["epochs"]: s["train"] for s in stage_settings(out, "train")}  # round 0: epochs_round0
    assert train[1.5]["batch_size"] == 2 and train[1.5]["grad_accum"] == 2 and "max_steps" not in train[1.5]
    assert train[10]["max_steps"] == 45 and train[10]["lr"] == 0.0003  # rounds >= 1: a warm start's rate

    proc = snakemake(wd, "-n", "-p", "--configfile", "config/scratch.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)}
    assert jobs["pretrain_corpus"] == 1 and jobs["base_model"] == 1 and jobs["evaluate"] == 5 and "convert_base" not in jobs
    assert "teacher_demos_extra" not in jobs
    assert {(s["train"]["batch_size"], s["train"]["grad_accum"]) for s in stage_settings(out, "train")} == {(4, 1)}


def test_slurm_dry_run_of_the_paper_config(tmp_path):
    """The paper's DAG on a cluster: every job with its resources, GPUs only for the model rules."""
    wd = workflow_copy(tmp_path)
    env = os.environ | {"ALFWORLD_DATA": str(tmp_path / "alfworld")}
    cmd = [sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm", "results/round4/eval.json"]
    proc = subprocess.run(
        [*cmd, "--configfile", "config/paper.yaml"], cwd=wd, env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)}
    assert jobs == {  # rollout, explore and evaluate in shards.count (8) jobs a round, each gathered by one job
        "games": 3, "teacher_demos": 1, "dataset_round0": 1, "train": 5, "evaluate": 40, "rollout": 32, "explore": 32,
        "gather_eval": 5, "gather_rollouts": 4, "gather_explore": 4, "filter": 4, "dataset": 4, "total": 135,
    }  # fmt: skip
    resources = dict(re.findall(r"^rule (\w+):\n(?:.*\n)*?\s+resources: (.*)$", out, re.M))
    for rule in ("train", "rollout", "explore", "evaluate"):
        assert "slurm_partition=gpu" in resources[rule] and "gpu=1" in resources[rule], (rule, resources[rule])
    for rule in ("games", "teacher_demos", "filter", "dataset", "gather_eval", "gather_rollouts", "gather_explore"):
        assert "gpu=" not in resources[rule] and "slurm_partition=cpu" in resources[rule], (rule, resources[rule])
    assert "--base mistralai/Mistral-7B-Instruct-v0.2 " in out and "--players prompted" in out
    train = stage_settings(out, "train")[0]
    assert train["model"] == {"compute_dtype": "bfloat16", "quantize": True} and train["train"]["optim"] == "paged_adamw_32bit"
    assert (train["qlora"]["r"], train["qlora"]["alpha"], train["qlora"]["target_modules"]) == (16, 32, ["q_proj", "v_proj"])
    explore = stage_settings(out, "explore")[0]
    assert explore["explore"]["samples"] == 40 and explore["explore"]["actre"] == "endpoint"
    assert explore["endpoint"]["model"] == "gpt-3.5-turbo-instruct"


def test_report_draws_reference_lines_and_rejects_bad_ones(tiny_run, tmp_path, capsys):
    from a3t.io import run_cli
    from a3t.stages.report import main

    rounds = [str(tiny_run / "results" / f"round{k}") for k in range(2)]
    images = {}
    for name, ref in (("plain", []), ("paper", ["--reference", "paper: single trial (96%)=0.96", "paper: accumulated=1.0"])):
        run_cli(main, ["--rounds", *rounds, "--out", str(tmp_path / name / "summary.csv"), "--plots", str(tmp_path / name), *ref])
        images[name] = (tmp_path / name / "success.png").read_bytes()
    assert images["plain"] != images["paper"]
    with pytest.raises(SystemExit):
        run_cli(main, ["--rounds", *rounds, "--out", str(tmp_path / "bad" / "summary.csv"), "--reference", "paper=96"])
    assert "--reference expects LABEL=RATE with a rate in [0, 1], got 'paper=96'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    config = yaml.safe_load(TINY.read_text()) | {"report": {"reference": {"paper: single trial": 0.96}}}
    (tmp_path / "ref.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(tiny_run, "-n", "-p", "-f", "results/summary.csv", "--configfile", str(tmp_path / "ref.yaml"))
    assert "--reference 'paper: single trial=0.96'" in proc.stdout + proc.stderr


def test_success_plot_shows_intervals_and_counts_per_type(tiny_run):
    """success.png: each split's overall success with its Wilson band and games won / games at each round,
    the accumulated line beside it, and a heat table of every task type's games won / games."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection

    from a3t.stages.report import success_figure, summary_table

    table = summary_table([tiny_run / "results" / f"round{k}" for k in range(2)])
    fig = success_figure(table)
    overall, per_type = table[table.task_type == "all"], table[table.task_type != "all"]
    assert fig.get_suptitle() == "Success by round (valid_unseen: 2 games, valid_seen: 2 games)"
    lines, heats = fig.axes[:2], fig.axes[2:]  # top row: the splits' lines; bottom row: their heat tables
    for split, ax, heat in zip(("valid_unseen", "valid_seen"), lines, heats, strict=True):
        assert ax.get_title() == f"{split}: 2 games, success by round"
        (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        vertices = band.get_paths()[0].vertices
        for k, row in overall.set_index("round").iterrows():  # the band spans each round's own interval, at that round
            at_k = sorted({round(float(y), 9) for x, y in vertices if x == k})
            want = sorted({round(row[f"{split}_ci95_low"], 9), round(row[f"{split}_ci95_high"], 9)})
            assert at_k == want, (split, k, at_k, want)
        assert sorted({float(x) for x, _ in vertices}) == [float(k) for k in overall["round"]]
        labels = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
        assert labels["single trial"] == list(overall[f"{split}_success"])
        assert labels["accumulated (solved by any round so far)"] == list(overall[f"{split}_accumulated"])
        won_of_games = [t.get_text() for t in ax.texts if "vs round" not in t.get_text()]
        assert won_of_games == _won_of_games(overall, split)
        tests = [t.get_text() for t in ax.texts if "vs round" in t.get_text()]  # round 1 against round 0, above its band and line
        r1 = overall.set_index("round").loc[1]
        gained, lost = int(r1[f"{split}_gained"]), int(r1[f"{split}_lost"])
        p, adjusted = r1[f"{split}_mcnemar_p"], r1[f"{split}_holm_p"]
        assert tests == [f"+{gained} −{lost} vs round 0\np={p:.2g}, Holm {adjusted:.2g}"]
        cells = sorted(t.get_text() for t in heat.texts)
        assert cells == sorted(_won_of_games(per_type, split)) and len(cells) == 4
        assert [t.get_text() for t in heat.get_yticklabels()] == ["pick_and_place_simple", "pick_heat_then_place_in_recep"]


def _won_of_games(rows, split: str) -> list[str]:
    return [f"{w}/{n}" for w, n in zip(rows[f"{split}_won"], rows[f"{split}_games"], strict=True)]


def test_a_split_skipped_by_a_round_is_carried_and_left_blank(tiny_run, tmp_path):
    """eval.alfworld_rounds: a round that does not play a split carries its accumulated solved tasks to the next
    round that does; summary.md leaves that round's cells empty and success.png draws the rounds that played it."""
    import matplotlib

    matplotlib.use("Agg")
    from a3t.outcomes import evaluation
    from a3t.stages.report import markdown_rows, success_figure, summary_table

    def played(won: dict[str, bool]) -> list[Trajectory]:
        return [Trajectory(t, "pick_and_place_simple", "g", "o", won=w) for t, w in won.items()]

    first = evaluation({"unseen": played({"a": False}), "real": played({"x": True, "y": False})}, 0, {"splits": {}})
    skipped = evaluation({"unseen": played({"a": True})}, 1, first)
    assert set(skipped["splits"]) == {"unseen"} and skipped["carried"]["real"]["accumulated"]["solved"] == ["x"]
    again = evaluation({"unseen": played({"a": False})}, 2, skipped)  # carried on, through another round
    last = evaluation({"unseen": played({"a": False}), "real": played({"x": False, "y": True})}, 3, again)
    assert last["splits"]["real"]["won"] == 1 and last["splits"]["real"]["accumulated"]["won"] == 2
    assert last["splits"]["unseen"]["accumulated"]["solved"] == ["a"] and "carried" not in last

    rounds = [tmp_path / f"round{k}" for k in range(2)]
    for k, d in enumerate(rounds):
        shutil.copytree(tiny_run / "results" / f"round{k}", d)
    summary = json.loads((rounds[1] / "eval.json").read_text())
    del summary["splits"]["valid_seen"]  # round 1 as if eval.alfworld_rounds left valid_seen out
    (rounds[1] / "eval.json").write_text(json.dumps(summary))
    (rounds[1] / "eval" / "valid_seen.jsonl").unlink()
    table = summary_table(rounds)
    md = markdown_rows(table).set_index("round")
    assert md.loc[1, "valid_seen (95% CI)"] == "" and md.loc[0, "valid_seen (95% CI)"].startswith("0.")
    assert md.loc[1, "valid_unseen (95% CI)"] != ""
    fig = success_figure(table)
    seen_line = {line.get_label(): list(line.get_xdata()) for line in fig.axes[1].get_lines()}["single trial"]
    assert seen_line == [0] and len(fig.axes[3].texts) == 2  # round 0's point and its 2 types' cells only
