"""train.warm_start: round k >= 1 continues the round before's adapter instead of a fresh one."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml
from safetensors.torch import load_file

from tests.workflow import changed_config, snakemake, stage_settings

WEIGHTS = "adapter_model.safetensors"


def train_cmd(res, out, *extra: str) -> list[str]:
    """Round 1's training command of the tiny run (its own manifest's settings), one step at learning rate 0."""
    made = json.loads((res / "round1" / "adapter" / "manifest.json").read_text())["config"]
    return [
        sys.executable, "-m", "a3t.stages.train", "--base", made["base"], "--data",
        str(res / "round1" / "dataset" / "trajectories.jsonl"), "--out", str(out), "--max-steps", "1", "--lr", "0",
        "--batch-size", "1", "--max-len", str(made["max_len"]), "--lora-r", str(made["lora_r"]),
        "--lora-alpha", str(made["lora_alpha"]), "--target-modules", ",".join(made["target_modules"]),
        "--compute-dtype", made["compute_dtype"], "--quantize" if made["quantize"] else "--no-quantize", "--threads", "1",
        *extra,
    ]  # fmt: skip


def test_a_warm_start_trains_the_saved_adapter(tiny_run, tmp_path):
    """At learning rate 0, a warm start saves round 0's weights unchanged; a fresh adapter's B matrices are zero."""
    res = tiny_run / "results"
    init = res / "round0" / "adapter"
    for name, extra in (("warm", ["--init-adapter", str(init)]), ("fresh", [])):
        proc = subprocess.run(train_cmd(res, tmp_path / name, *extra), cwd=tiny_run, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    start, warm, fresh = (load_file(p / WEIGHTS) for p in (init, tmp_path / "warm", tmp_path / "fresh"))
    assert warm.keys() == start.keys() and all(warm[k].equal(start[k]) for k in start)
    lora_b = [k for k in fresh if "lora_B" in k]
    assert lora_b and all(not fresh[k].any() for k in lora_b) and any(start[k].any() for k in lora_b)
    made = json.loads((tmp_path / "warm" / "manifest.json").read_text())
    assert made["config"]["init_adapter"] == str(init)


def test_a_warm_start_refuses_an_adapter_of_another_shape(tiny_run, tmp_path):
    res = tiny_run / "results"
    init = res / "round0" / "adapter"
    cmd = train_cmd(res, tmp_path / "out", "--init-adapter", str(init))
    other_r = json.loads((init / "adapter_config.json").read_text())["r"] + 1
    cmd[cmd.index("--lora-r") + 1] = str(other_r)
    proc = subprocess.run(cmd, cwd=tiny_run, capture_output=True, text=True)
    assert proc.returncode != 0 and f"{init}/adapter_config.json" in proc.stderr and f"'r': {other_r}" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_rule_continues_the_round_before_at_warm_lr(tiny_run, tmp_path):
    """Under train.warm_start, round 1's command continues round 0's adapter at train.warm_lr; round 0's is unchanged."""
    config = tmp_path / "warm.yaml"
    config.write_text(yaml.safe_dump(changed_config("train", "warm_start", True)))
    proc = snakemake(tiny_run, "-n", "-p", "results/round1/adapter", "--configfile", str(config), "--forcerun", "train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = re.findall(r"a3t\.stages\.train .*", proc.stdout)
    by_round = {int(re.search(r"--out results/round(\d)/adapter", c).group(1)): c for c in commands}
    assert "--init-adapter results/round0/adapter" in by_round[1] and "--init-adapter" not in by_round[0]
    lr = {k: stage_settings(c, "train")[0]["train"]["lr"] for k, c in by_round.items()}
    assert lr == {0: 0.001, 1: 0.0003}
