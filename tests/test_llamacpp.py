"""model.engine llamacpp: the agent written as GGUF reads as the torch model, each episode a sequence of one batch
that keeps its cache, and the player plays the same episodes as the torch player."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
import yaml

from a3t import hardware
from a3t.agents.episodes import Job, run_episodes
from a3t.agents.llm import LLMPlayer
from a3t.agents.modeling import load_agent, load_tokenizer
from a3t.envs.batch import BatchEnv
from a3t.envs.games import load_split
from a3t.io import A3TError
from a3t.stages import export_gguf
from tests.workflow import TINY, snakemake, stage_settings

llamacpp = pytest.importorskip("a3t.agents.llamacpp")
if not llamacpp.available():
    pytest.skip("llama-cpp-python is not installed (make .venv/.llamacpp)", allow_module_level=True)


@pytest.fixture(scope="module")
def agent(tiny_run, tmp_path_factory):
    """The tiny run's round-0 agent exported as F32 GGUF (stage export_gguf), with its base and adapter."""
    res = tiny_run / "results"
    out = tmp_path_factory.mktemp("gguf") / "agent"
    export_gguf.main(["--base", str(res / "base_model"), "--adapter", str(res / "round0/adapter"), "--out", str(out)])
    return res / "base_model", res / "round0/adapter", out


def test_export_checks_llamacpp_against_torch_and_fails_when_they_differ(agent, tmp_path, monkeypatch):
    base, adapter, out = agent
    manifest = json.loads((out / "manifest.json").read_text())
    check = manifest["counts"]["check"]
    assert check["greedy_tokens_identical"] and check["max_abs_logit_diff"] < check["tolerance"] == 0.05
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out / "agent.gguf").tensors}
    assert types["blk.0.attn_q.weight"] == "F32" and types["token_embd.weight"] == "F32"
    for weight_type in ("F16", "BF16"):
        export_gguf.main(["--base", str(base), "--adapter", str(adapter), "--weight-type", weight_type,
                          "--out", str(tmp_path / weight_type)])  # fmt: skip
        types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(tmp_path / weight_type / "agent.gguf").tensors}
        assert types["blk.0.attn_q.weight"] == weight_type and types["output_norm.weight"] == "F32"
    # q/k left in transformers' rotary order: llama.cpp's logits differ beyond what the right file meets (the tiny
    # model reads position weakly: 0.007 against 0.0006), and the folder is not kept
    assert check["max_abs_logit_diff"] < 0.002
    monkeypatch.setattr("a3t.agents.to_gguf._permute", lambda weights, heads: weights)
    with pytest.raises(A3TError, match="llama.cpp and torch disagree on the check prompts"):
        export_gguf.main(["--base", str(base), "--adapter", str(adapter), "--tolerance", "0.002",
                          "--out", str(tmp_path / "unpermuted")])  # fmt: skip
    assert not (tmp_path / "unpermuted").exists()


def test_each_sequence_keeps_its_cache_and_is_fed_only_what_is_new(agent):
    _, _, out = agent
    path, rng = out / "agent.gguf", np.random.default_rng(0)
    a, b, c = ([int(x) for x in rng.integers(5, 390, n)] for n in (30, 17, 9))
    fresh = llamacpp.LlamaBatch(path, sequences=4, context=256, threads=2)

    def alone(prompt):
        fresh.drop("x")
        return fresh.forward(["x"], [prompt])[0]

    engine = llamacpp.LlamaBatch(path, sequences=2, context=256, threads=2)
    both = engine.forward(["a", "b"], [a, b])  # one batch of two sequences: each reads as alone
    assert np.allclose(both[0], alone(a), atol=1e-4) and np.allclose(both[1], alone(b), atol=1e-4)
    fed = engine.fed
    grown = engine.forward(["a"], [a + c])[0]  # a grew: only its new tokens are fed
    assert engine.fed - fed == len(c) and np.allclose(grown, alone(a + c), atol=1e-4)
    fed = engine.fed
    trimmed = engine.forward(["a"], [a[:10] + c])[0]  # a trimmed history: cells past the common prefix dropped
    assert engine.fed - fed == len(c) and np.allclose(trimmed, alone(a[:10] + c), atol=1e-4)
    fed = engine.fed
    same = engine.forward(["a"], [a[:10] + c])[0]  # nothing new: the last token is fed again for its logits
    assert engine.fed - fed == 1 and np.allclose(same, trimmed, atol=1e-4)
    engine.forward(["c"], [c])  # two sequences: c takes the least recently used one's cells (b's)
    assert set(engine.sequences) == {"a", "c"}
    assert np.allclose(engine.forward(["b"], [b])[0], alone(b), atol=1e-4)  # b comes back, prefilled again
    with pytest.raises(A3TError, match="exceeds the 256-token context"):
        engine.forward(["a"], [a * 10])


def _play(player, games):
    with BatchEnv(workers=1, step_limit=12) as env:
        trajs = run_episodes([Job(g, sample=s) for g in games for s in range(2)], player, env, 4, seed=0, origin="t")
    return [[s.action for s in t.steps] for t in trajs]


def test_the_player_plays_the_episodes_the_torch_player_plays(agent, tiny_run):
    base, adapter, out = agent
    res = tiny_run / "results"
    games = load_split(res / "games/valid_seen/manifest.csv") + load_split(res / "games/valid_unseen/manifest.csv")
    settings = {"max_len": 512, "max_new_tokens": 8, "actions": "admissible", "think_limit": 2, "decode_chunk": 3}
    model, tok = load_agent(str(base), str(adapter), quantize=True, compute_dtype="float32", merge=True)
    torch_player = LLMPlayer(model, tok, **settings)
    with torch.no_grad():
        expected = _play(torch_player, games)
    ours = llamacpp.LlamaCppPlayer(out / "agent.gguf", load_tokenizer(str(base)), **settings, threads=2, sequences=6)
    assert _play(ours, games) == expected  # greedy: the same actions, step by step
    assert len(ours.engine.sequences) <= 6
    sampled = [llamacpp.LlamaCppPlayer(out / "agent.gguf", tok, **settings, temperature=1.0, seed=3, threads=2) for _ in "ab"]
    assert _play(sampled[0], games) == _play(sampled[1], games)  # the same seed, the same sampled episodes
    with pytest.raises(A3TError, match="scored needs the torch engine"):
        llamacpp.LlamaCppPlayer(out / "agent.gguf", tok, actions="scored")


def test_engine_choice_and_a_missing_llamacpp(monkeypatch):
    cpu = hardware.Hardware("cpu", "CPU capability AVX2", False, "no native bfloat16")
    amx = hardware.Hardware("cpu", "CPU capability AVX512", True, "amx_bf16, avx512_bf16")
    gpu = hardware.Hardware("cuda", "CUDA capability 9.0 (NVIDIA H200)", True, "bfloat16 tensor cores")
    on_avx2 = hardware.choose_engine("auto", cpu, installed=True)
    assert on_avx2.line == "engine: llamacpp (auto: llama.cpp installed, a CPU without native bfloat16, CPU capability AVX2)"
    on_amx = hardware.choose_engine("auto", amx, installed=True)
    assert on_amx.line == "engine: torch (auto: torch computes bfloat16 natively here, amx_bf16, avx512_bf16)"
    assert hardware.choose_engine("llamacpp", amx, installed=True).engine == "llamacpp"  # named: as named
    on_gpu = hardware.choose_engine("auto", gpu, installed=True)
    assert on_gpu.line == "engine: torch (auto: a CUDA device, CUDA capability 9.0 (NVIDIA H200))"
    no = hardware.choose_engine("auto", cpu, installed=False)
    assert no.engine == "torch" and "llama.cpp is not installed here; make .venv/.llamacpp" in no.line
    with pytest.raises(ValueError, match="model.engine llamacpp: the llama_cpp package is not installed"):
        hardware.choose_engine("llamacpp", cpu, installed=False)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    with pytest.raises(A3TError, match=r"model.engine llamacpp needs llama.cpp: .*make .venv/.llamacpp"):
        llamacpp.load_library()


@pytest.mark.parametrize("engine", ["torch", "llamacpp"])
def test_the_workflow_plays_each_round_with_the_engine(tiny_run, tmp_path, engine):
    config = yaml.safe_load(TINY.read_text())
    config["model"]["engine"] = engine
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(tiny_run, "-n", "-p", "-F", "results/round1/eval.json", "--configfile", str(tmp_path / "engine.yaml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"a3t: engine: {engine}" in out
    lines = [line for line in out.splitlines() if re.search(r"-m a3t\.stages\.(evaluate|rollout|explore) ", line)]
    playing = [s for stage in ("evaluate", "rollout", "explore") for s in stage_settings(out, stage)]
    assert len(playing) == 4 and all(s["model"]["engine"] == engine for s in playing)  # 2 evaluations, rollout, exploration
    gguf_args = [re.search(r"--agent-gguf (\S+)", line) for line in lines]
    exports = re.findall(r"-m a3t\.stages\.export_gguf .*--out (\S+)", out)
    if engine == "torch":
        assert not any(gguf_args) and not exports
    else:  # round k's evaluation plays round k's GGUF; round 1's rollout and exploration play round 0's
        assert sorted(exports) == ["results/round0/agent_gguf", "results/round1/agent_gguf"]
        assert sorted(Path(m[1]).parent.name for m in gguf_args) == ["round0", "round0", "round0", "round1"]
