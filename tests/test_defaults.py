"""Every default written in more than one place agrees: config/default.yaml, config/schema.yaml's defaults, and
each stage CLI's default for a flag that a config key feeds (what a person at the shell gets)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())


def key(path: str):
    value = DEFAULT
    for part in path.split("."):
        value = value[part]
    return value


def schema_leaves(node: dict, prefix: str = ""):
    """(dotted key, its schema) for every leaf of the schema."""
    for name, spec in node.get("properties", {}).items():
        if "properties" in spec:
            yield from schema_leaves(spec, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", spec


def test_schema_defaults_are_the_default_config():
    """Every leaf the schema gives a default has that value in config/default.yaml."""
    defaults = {path: spec["default"] for path, spec in schema_leaves(SCHEMA) if "default" in spec}
    assert {p: key(p) for p in defaults} == defaults


def test_default_config_names_every_schema_key():
    for path, _ in schema_leaves(SCHEMA):
        key(path)  # KeyError names the missing key


class _Parsed(Exception):
    pass


def stage_parser(module: str, monkeypatch, subcommand: str | None = None) -> argparse.ArgumentParser:
    """The parser ``module``'s main (given ``subcommand``, if any) builds: caught when it parses (nothing runs)."""
    seen = {}

    def catch(self, *args, **kwargs):
        seen["parser"] = self
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Parsed):
        importlib.import_module(module).main([subcommand] if subcommand else [])
    return seen["parser"]


JOINED = {"qlora.target_modules", "games.unseen_floorplans", "games.task_types"}  # comma-separated on the CLI
# stage module -> {flag dest: config key}. Not here: train --max-steps (0: epochs decide), which the workflow passes in
# rounds >= 1 only (train.max_steps), round 0 training by epochs_round0.
CLI_KEYS = {
    "a3t.stages.train": {
        "epochs": "train.epochs", "lr": "train.lr", "batch_size": "train.batch_size",
        "grad_accum": "train.grad_accum", "optim": "train.optim", "max_len": "train.max_len", "lora_r": "qlora.r",
        "lora_alpha": "qlora.alpha", "lora_dropout": "qlora.dropout", "target_modules": "qlora.target_modules",
        "fail_weight": "train.fail_weight", "neg_nll_cap": "train.neg_nll_cap", "seed": "seed", "threads": "shards.threads",
        "compute_dtype": "model.compute_dtype",
    },
    "a3t.stages.evaluate": {
        "step_limit": "env.step_limit", "max_len": "train.max_len", "max_new_tokens": "eval.max_new_tokens",
        "batch_size": "eval.batch_size", "actions": "model.actions", "think_limit": "model.think_limit",
        "decode_chunk": "model.decode_chunk", "seed": "seed", "threads": "shards.threads",
        "compute_dtype": "model.compute_dtype",
    },
    "a3t.stages.explore": {
        "samples": "explore.samples", "early_stop": "explore.early_stop", "p_sample": "explore.p_sample",
        "temperature": "explore.temperature", "forced": "explore.forced", "actre": "explore.actre",
        "endpoint_max_requests": "endpoint.max_requests", "endpoint_retries": "endpoint.retries",
        "endpoint_timeout": "endpoint.timeout", "endpoint_key_env": "endpoint.api_key_env",
    },
    "a3t.stages.filter": {"min_successes": "filter.min_successes"},
    "a3t.stages.games": {
        "seed": "games.seed", "unseen_floorplans": "games.unseen_floorplans", "distractors": "games.distractors",
        "max_instances": "games.max_instances", "max_draws": "games.max_draws", "task_types": "games.task_types",
    },
    "a3t.stages.demos": {"astray": "teacher.astray", "step_limit": "env.step_limit", "random_steps": "pretrain.random_steps"},
    "a3t.stages.base_model": {
        "vocab_size": "pretrain.vocab_size", "hidden": "pretrain.hidden", "layers": "pretrain.layers",
        "heads": "pretrain.heads", "kv_heads": "pretrain.kv_heads", "intermediate": "pretrain.intermediate",
        "max_len": "pretrain.max_len", "block": "pretrain.block", "epochs": "pretrain.epochs", "lr": "pretrain.lr",
        "batch_size": "pretrain.batch_size", "seed": "seed",
    },
    "a3t.stages.export_gguf": {"weight_type": "model.gguf_type"},
}  # fmt: skip
SUBCOMMANDS = {"a3t.stages.dagger": {"train": {"epochs": "dagger.epochs", "lr": "dagger.lr", "block": "pretrain.block"}}}


def cli_defaults(monkeypatch):
    for module, flags in CLI_KEYS.items():
        yield module, stage_parser(module, monkeypatch), flags
    for module, subs in SUBCOMMANDS.items():
        for sub, flags in subs.items():
            yield f"{module} {sub}", stage_parser(module, monkeypatch, sub), flags


def test_each_stage_cli_defaults_to_the_default_config(monkeypatch):
    """A stage run by hand gets what the workflow's default passes it: flag by flag, every disagreement listed."""
    disagree = []
    for module, parser, flags in cli_defaults(monkeypatch):
        for dest, path in flags.items():
            want = ",".join(map(str, key(path))) if path in JOINED else key(path)
            got = parser.get_default(dest)
            if got != want:  # 10 == 10.0: a float flag may default to an int
                disagree.append(f"{module} --{dest.replace('_', '-')}: {got!r}, {path}: {want!r}")
    assert disagree == [], "\n".join(disagree)
