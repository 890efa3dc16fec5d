"""Every default comes from one place, src/a3t/settings.py: config/schema.yaml is generated from it, config/default.yaml
names every key with its value, and each stage CLI's flag for a config key takes the key's default (what a person at
the shell gets)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest
import yaml

from a3t import settings

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


def test_schema_file_is_generated_from_the_settings():
    """config/schema.yaml is what `make schema` writes from src/a3t/settings.py (run it after editing a field)."""
    assert (ROOT / "config" / "schema.yaml").read_text() == settings.schema_text()


def test_default_config_is_the_settings_defaults():
    assert DEFAULT == settings.defaults()


def test_a_setting_flag_has_the_keys_type_default_and_values():
    p = argparse.ArgumentParser()
    for path in ("model.quantize", "model.merge_for_inference", "qlora.target_modules", "games.unseen_floorplans",
                 "explore.forced", "train.lr"):  # fmt: skip
        settings.add_setting(p, path)
    got = p.parse_args([])
    assert (got.quantize, got.merge_for_inference, got.forced, got.lr) == (False, True, "uniform", 0.001)
    assert got.target_modules == DEFAULT["qlora"]["target_modules"] and got.unseen_floorplans == [10, 219, 308, 424]
    got = p.parse_args(["--quantize", "--no-merge-for-inference", "--target-modules", "q_proj,v_proj",
                        "--unseen-floorplans", "1,2", "--lr", "2e-4"])  # fmt: skip
    assert (got.quantize, got.merge_for_inference, got.target_modules, got.unseen_floorplans, got.lr) == (
        True, False, ["q_proj", "v_proj"], [1, 2], 2e-4
    )  # fmt: skip
    for bad in (["--forced", "sideways"], ["--unseen-floorplans", "1,x"], ["--lr", "fast"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)
    with pytest.raises(KeyError, match="train.rate"):
        settings.add_setting(p, "train.rate")


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


# stage module -> {flag dest: config key}. Not here: train --max-steps (0: epochs decide), which the workflow passes in
# rounds >= 1 only (train.max_steps), round 0 training by epochs_round0; the stages' --engine (torch: the workflow names
# the engine it chose, so model.engine's auto never reaches a stage).
CLI_KEYS = {
    "a3t.stages.train": {
        "epochs": "train.epochs", "lr": "train.lr", "batch_size": "train.batch_size",
        "grad_accum": "train.grad_accum", "optim": "train.optim", "max_len": "train.max_len", "lora_r": "qlora.r",
        "lora_alpha": "qlora.alpha", "lora_dropout": "qlora.dropout", "target_modules": "qlora.target_modules",
        "fail_weight": "train.fail_weight", "neg_nll_cap": "train.neg_nll_cap", "seed": "seed",
        "compute_dtype": "model.compute_dtype", "quantize": "model.quantize",
        "include_observations": "train.include_observations",
    },
    "a3t.stages.evaluate": {
        "step_limit": "env.step_limit", "max_len": "train.max_len", "max_new_tokens": "eval.max_new_tokens",
        "batch_size": "eval.batch_size", "actions": "model.actions", "think_limit": "model.think_limit",
        "decode_chunk": "model.decode_chunk", "seed": "seed", "threads": "shards.threads",
        "compute_dtype": "model.compute_dtype", "quantize": "model.quantize", "merge_for_inference": "model.merge_for_inference",
    },
    "a3t.stages.explore": {
        "samples": "explore.samples", "early_stop": "explore.early_stop", "p_sample": "explore.p_sample",
        "temperature": "explore.temperature", "forced": "explore.forced", "actre": "explore.actre",
        "endpoint_max_requests": "endpoint.max_requests", "endpoint_retries": "endpoint.retries",
        "endpoint_timeout": "endpoint.timeout", "endpoint_key_env": "endpoint.api_key_env", "endpoint_url": "endpoint.base_url",
        "endpoint_model": "endpoint.model", "endpoint_cache": "endpoint.cache",
    },
    "a3t.stages.filter": {"min_successes": "filter.min_successes", "keep_failures": "filter.keep_failures"},
    "a3t.stages.games": {
        "seed": "games.seed", "unseen_floorplans": "games.unseen_floorplans", "distractors": "games.distractors",
        "max_instances": "games.max_instances", "max_draws": "games.max_draws", "task_types": "games.task_types",
        "data_dir": "games.data_dir",
    },
    "a3t.stages.demos": {"astray": "teacher.astray", "step_limit": "env.step_limit", "random_steps": "pretrain.random_steps"},
    "a3t.stages.base_model": {
        "vocab_size": "pretrain.vocab_size", "hidden": "pretrain.hidden", "layers": "pretrain.layers",
        "heads": "pretrain.heads", "kv_heads": "pretrain.kv_heads", "intermediate": "pretrain.intermediate",
        "max_len": "pretrain.max_len", "block": "pretrain.block", "epochs": "pretrain.epochs", "lr": "pretrain.lr",
        "batch_size": "pretrain.batch_size", "seed": "seed",
    },
    "a3t.stages.export_gguf": {"gguf_type": "model.gguf_type", "quantize": "model.quantize"},
}  # fmt: skip
SUBCOMMANDS = {
    "a3t.stages.dagger": {
        "train": {"epochs": "dagger.epochs", "lr": "dagger.lr", "block": "pretrain.block", "seed": "seed"},
        "play": {"games_count": "dagger.games", "examples_per_episode": "dagger.examples_per_episode", "seed": "seed"},
    }
}


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
            want, got = key(path), parser.get_default(dest)
            if got != want:  # 10 == 10.0: a float flag may default to an int
                disagree.append(f"{module} --{dest.replace('_', '-')}: {got!r}, {path}: {want!r}")
    assert disagree == [], "\n".join(disagree)


def test_a_stage_takes_its_config_slice_and_a_flag_wins_over_it(capsys):
    """What each rule passes (--config JSON) sets the flags its keys feed; a flag given too wins; a key that is not the
    stage's, or a value of the wrong type, stops it with one line naming the key."""

    def parser():
        p = argparse.ArgumentParser(prog="stage")
        for path in ("train.lr", "train.max_len", "qlora.target_modules", "model.quantize", "explore.forced", "seed"):
            settings.add_setting(p, path)
        return p

    slice_ = '{"train": {"lr": 0.0003, "max_len": 512}, "qlora": {"target_modules": ["q_proj"]}, "model": {"quantize": true}}'
    args = settings.parse_stage_args(parser(), ["--config", slice_, "--max-len", "256"])
    assert (args.lr, args.max_len, args.target_modules, args.quantize, args.seed) == (3e-4, 256, ["q_proj"], True, 0)
    assert args.settings == {
        "explore": {"forced": "uniform"}, "model": {"quantize": True}, "qlora": {"target_modules": ["q_proj"]},
        "seed": 0, "train": {"lr": 3e-4, "max_len": 256},
    }  # fmt: skip
    assert not hasattr(args, "config")
    for bad, message in (
        ('{"train": {"epochs": 3}}', "--config: train.epochs is not a setting of this stage"),
        ('{"train": {"max_len": "long"}}', '--config: train.max_len = "long" is not a'),
        ('{"explore": {"forced": "sideways"}}', "expected one of uniform, nearest"),
        ("[1]", "expected a JSON object"),
        ("{train", "--config: not JSON"),
    ):
        with pytest.raises(SystemExit):
            settings.parse_stage_args(parser(), ["--config", bad])
        assert message in capsys.readouterr().err, bad
