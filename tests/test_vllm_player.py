"""model.engine: vllm, against a stand-in for vLLM's offline API (vLLM itself needs GPUs and is an extra)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
from types import SimpleNamespace

import pytest
import yaml

from a3t.agents.llm import LLMPlayer
from a3t.agents.player_args import add_agent_args, agent_from_args
from a3t.io import A3TError
from a3t.trajectory import Step, Trajectory
from tests.workflow import TINY, snakemake, stage_settings


class FakeLLM:
    """Records what the player asks; answers each prompt with 'go to desk 1'."""

    made: list[FakeLLM] = []

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []
        FakeLLM.made.append(self)

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((prompts, params, lora_request))
        out = SimpleNamespace(text=" go to desk 1\n", token_ids=[1, 2, 3, 4])
        return [SimpleNamespace(outputs=[out]) for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, id_, path: SimpleNamespace(name=name, id=id_, path=path)
    for name, module in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, module)
    FakeLLM.made.clear()
    return FakeLLM


def _args(base, adapter, *extra):
    """vLLM plays whole free-text replies, as config/paper.yaml (the CLI's defaults are the default config's:
    admissible actions, 2 thoughts in a row, 12-token chunks)."""
    p = argparse.ArgumentParser()
    add_agent_args(p, adapter_help="")
    flags = ["--engine", "vllm", "--actions", "free", "--think-limit", "0", "--decode-chunk", "0", "--max-new-tokens", "16"]
    return p.parse_args(["--base", str(base), "--adapter", str(adapter), *flags, *extra])


def test_vllm_player_sends_the_hf_tokens_with_the_adapter(tiny_run, fake_vllm):
    res = tiny_run / "results"
    adapter = res / "round0" / "adapter"
    player = agent_from_args(_args(res / "base_model", adapter, "--seed", "3", "--quantize"))  # the tiny run's NF4 base
    llm = fake_vllm.made[-1]
    rank = json.loads((adapter / "adapter_config.json").read_text())["r"]
    assert llm.kwargs["quantization"] == "bitsandbytes" and llm.kwargs["enable_lora"] and llm.kwargs["max_lora_rank"] == rank
    traj = Trajectory("t", "pick_and_place_simple", "g", "You are in a room. Your task is to: put a mug in desk.")
    traj.steps.append(Step("go to shelf 1", "On the shelf 1, you see nothing."))
    player.start(0, None, traj, None)
    actions = player.act({0: traj}, {0: ["go to desk 1"]})
    assert actions == {0: ("go to desk 1", "policy")}  # parsed like the transformers path's replies
    prompts, params, lora = llm.calls[-1]
    hf_prompt = LLMPlayer.prompt(player, 0, traj)  # the same chat template, history and trimming
    assert prompts == [{"prompt_token_ids": player.tok(hf_prompt, add_special_tokens=False)["input_ids"]}]
    assert lora.path == str(adapter) and params.max_tokens == 16 and params.temperature == 0.0 and params.seed == 3
    assert params.stop_token_ids == [player.tok.eos_token_id] and player.generated_tokens == 4


def test_vllm_engine_missing_is_one_clear_error(tiny_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    res = tiny_run / "results"
    with pytest.raises(A3TError, match=r"needs vLLM: pip install -e '.\[vllm\]'"):
        agent_from_args(_args(res / "base_model", res / "round0" / "adapter"))
    with pytest.raises(A3TError, match="adapter .* not found"):
        agent_from_args(_args(res / "base_model", res / "no_adapter"))


def test_the_workflow_passes_the_engine_to_every_generating_rule(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["model"]["engine"] = "vllm"
    (tmp_path / "vllm.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(tiny_run, "-n", "-p", "results/round1/eval.json", "--configfile", str(tmp_path / "vllm.yaml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    lines = [line for line in out.splitlines() if re.search(r"-m a3t\.stages\.(evaluate|rollout|explore) ", line)]
    assert len(lines) == 4  # 2 evaluations, rollout, exploration
    assert all("--agent-gguf" not in line for line in lines)
    playing = [s for stage in ("evaluate", "rollout", "explore") for s in stage_settings(out, stage)]
    assert len(playing) == 4 and all(s["model"]["engine"] == "vllm" for s in playing)
