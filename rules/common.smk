# Config validation, wildcard constraints and input functions (helpers live in src/a3t/, not here).
import os
import sys

from a3t.config import canonical, validate_config

validate_config(config, schema=workflow.source_path("../config/schema.yaml"))
config.update(canonical(config))  # sorted keys: params that differ only in key order are not a change

SPLITS = ["pretrain", "train", "valid_seen", "valid_unseen"]
PY = f"{sys.executable} -m"


wildcard_constraints:
    round=r"\d+",
    split="|".join(SPLITS),


def games_manifest(split):
    return f"results/games/{split}/manifest.csv"


def base_model():
    """The base model the agent is built on: the embedded model this workflow trains, or a configured one."""
    base = config["model"]["base"]
    return "results/base_model" if base == "build" else base


def base_model_input(wildcards=None):
    """Input files for rules that load the base model (none for a hub id)."""
    base = base_model()
    return [base] if base == "results/base_model" or os.path.exists(base) else []


def model_args():
    m = config["model"]
    args = f"--base {base_model()} --compute-dtype {m['compute_dtype']}"
    if m["gguf_file"]:
        args += f" --gguf-file {m['gguf_file']}"
    if not m["quantize"]:
        args += " --no-quantize"
    return args


def agent_args():
    """model_args() for the stages that only generate (rollout, explore, evaluate)."""
    return model_args() + (" --merge" if config["model"]["merge_for_inference"] else "")


def _previous(wildcards, template):
    k = int(wildcards.round)
    if k < 1:
        raise ValueError("round 0 has no previous round")
    return template.format(k=k - 1)


def previous_adapter(wildcards):
    return _previous(wildcards, "results/round{k}/adapter")


def previous_dataset(wildcards):
    return _previous(wildcards, "results/round{k}/dataset/trajectories.jsonl")


def previous_eval(wildcards):
    """The round before's eval.json (for the accumulated success); none for round 0."""
    return [] if int(wildcards.round) == 0 else _previous(wildcards, "results/round{k}/eval.json")


def train_params(wildcards):
    """The train config slice round k depends on: round 0 is SFT (no failures, its own epochs)."""
    drop = ("epochs", "fail_weight", "neg_nll_cap") if int(wildcards.round) == 0 else ("epochs_round0",)
    return {k: v for k, v in config["train"].items() if k not in drop}


def generation_params():
    """The eval keys that rollout and exploration use too (not which splits are evaluated)."""
    return {k: config["eval"][k] for k in ("batch_size", "max_new_tokens")}


def train_flags():
    t = config["train"]
    flags = "--include-observations" if t["include_observations"] else ""
    if config["explore"]["actre"] == "self":  # the agent is its own ActRe: train it on the ActRe view too
        flags += " --actre"
    return flags.strip()
