# Config validation, wildcard constraints and input functions (helpers live in src/a3t/, not here).
import inspect
import json
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.iocontainers import Wildcards

from a3t.config import canonical, typed_command_line, validate_config
from a3t.hardware import choose_engine, choose_for_run, slow_warning
from a3t.locate import resolve_base  # light: no torch while Snakemake parses
from a3t.settings import nested
from a3t.signatures import check, make_signature

SCHEMA = workflow.source_path("../config/schema.yaml")
# --config 'filter={min_successes: 3}' arrives with string scalars: typed by the schema, as an overlay file gives them
typed_command_line(config, workflow.config_settings.config, SCHEMA)
validate_config(config, schema=SCHEMA)
config.update(canonical(config))  # sorted keys: params that differ only in key order are not a change
# model.compute_dtype (auto: bfloat16 where this machine computes it natively) chosen once, where the run is planned
# (its jobs inherit the choice): the dtype is in the model stages' params, so a tree extended on a machine that
# chooses another says so (a3t verify) and reruns them
COMPUTE = choose_for_run(config["model"]["compute_dtype"])
print(f"a3t: {COMPUTE.line}", file=sys.stderr)
if COMPUTE.slow:
    print(f"a3t: {slow_warning(COMPUTE)}", file=sys.stderr)
# model.engine (auto: llama.cpp where it is installed and the CPU has no native bfloat16, else torch), chosen where the
# run is planned: with llamacpp each round's agent is written as one GGUF (rule export_gguf) that its players read
try:
    ENGINE = choose_engine(config["model"]["engine"])
except ValueError as err:
    raise WorkflowError(str(err)) from None
print(f"a3t: {ENGINE.line}", file=sys.stderr)

SPLITS = ["pretrain", "train", "valid_seen", "valid_unseen"]
PY = f"{sys.executable} -m"
# OpenMP threads that sleep when idle instead of spinning: two jobs' torch threads on the same cores otherwise
# spin against each other (two 2-thread processes on 2 cores: 6-30x slower; docs/performance.md). Jobs inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


onstart:
    # on a SLURM cluster: job states read whole whichever status command the plugin asks (a3t.slurm), said in one line
    plugin = workflow.executor_plugin
    if plugin is not None and plugin.name == "slurm":
        from a3t.slurm import status_line

        print(status_line(workflow.executor_settings), file=sys.stderr)


wildcard_constraints:
    round=r"\d+",
    split="|".join(SPLITS),
    shard=r"\d+of\d+",


def shard_outputs(template, wildcards):
    """Every shard's output of a sharded stage (shards.count of them) for the round in ``wildcards``."""
    n = config["shards"]["count"]
    return [template.format(round=wildcards.round, shard=f"{i}of{n}") for i in range(1, n + 1)]


def games_manifest(split):
    return f"results/games/{split}/manifest.csv"


def eval_splits(round):
    """The splits round ``round`` is evaluated on: eval.splits, then alfworld_<split> for eval.alfworld_splits
    when eval.alfworld_rounds (empty: every round) has the round."""
    e = config["eval"]
    real = e["alfworld_splits"] if not e["alfworld_rounds"] or int(round) in e["alfworld_rounds"] else []
    return list(e["splits"]) + [f"alfworld_{s}" for s in real]


def per_type(split):
    """games.sizes[split] as the games CLI's --per-type: a number, a JSON object by type, or all."""
    size = config["games"]["sizes"][split]
    return json.dumps(size, sort_keys=True) if isinstance(size, dict) else str(size)


def dagger_model(iteration):
    """The embedded base after DAgger iteration ``iteration`` (0: as pre-trained)."""
    return "results/base_model" if int(iteration) == 0 else f"results/dagger/iter{iteration}/model"


def base_model():
    """The base model the agent is built on: one this workflow builds (after dagger.iterations of DAgger) or
    converts from GGUF, or a configured one."""
    m = config["model"]
    if m["base"] == "build":
        return dagger_model(config["dagger"]["iterations"])
    return "results/base_model" if m["gguf_file"] else m["base"]


def base_model_input(wildcards=None):
    """Input files for rules that load the base model (none for a hub id)."""
    base = base_model()
    return [base] if base.startswith("results/") or os.path.exists(base) else []


def gguf_input():
    """The GGUF checkpoint that rule convert_base reads (``model.base`` may be ``pkg:PACKAGE``)."""
    return os.path.join(resolve_base(config["model"]["base"]), config["model"]["gguf_file"])


class Settings(dict):
    """A rule's slice of the config as one param: a mapping in the job's signature (a3t verify names each key that
    changed), one JSON argument of the stage's command (``--config {params.settings:q}``; a3t.settings)."""

    def __str__(self):
        return json.dumps(self, sort_keys=True, separators=(",", ":"))


def settings(keys=(), values=None, base=None):
    """``base`` (a Settings) with the config's values of ``keys`` (dotted: ``env.step_limit``) and ``values`` (dotted
    key -> value: what the rule computes, e.g. a round's learning rate), nested as in the config."""
    flat = {key: _config_value(key) for key in keys} | dict(values or {})
    return Settings(canonical(nested(flat, into=json.loads(json.dumps(base or {})))))


def _config_value(key):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def model_settings():
    """The model keys of every stage that loads the agent's model (train, the playing stages, export)."""
    return settings(["model.quantize"], {"model.compute_dtype": COMPUTE.dtype})


def agent_settings(engine=None):
    """model_settings() and the generation keys, for the stages that only generate: rollout, explore and evaluate with
    the engine the run chose; dagger's play with torch (the embedded base it trains is no round's agent)."""
    keys = ["model.merge_for_inference", "model.actions", "model.think_limit", "model.decode_chunk", "env.step_limit"]
    keys += ["train.max_len", "eval.batch_size", "eval.max_new_tokens", "seed"]
    return settings(keys, {"model.engine": engine or ENGINE.engine}, base=model_settings())


def _previous(wildcards, template):
    k = int(wildcards.round)
    if k < 1:
        raise ValueError("round 0 has no previous round")
    return template.format(k=k - 1)


def previous_adapter(wildcards):
    return _previous(wildcards, "results/round{k}/adapter")


def agent_gguf(wildcards):
    """Round k's agent as one GGUF (rule export_gguf), which its evaluation plays with model.engine llamacpp."""
    return [f"results/round{wildcards.round}/agent_gguf"] if ENGINE.engine == "llamacpp" else []


def previous_agent_gguf(wildcards):
    """The round-(k-1) agent's GGUF, which rollout and exploration play with model.engine llamacpp."""
    return [_previous(wildcards, "results/round{k}/agent_gguf")] if ENGINE.engine == "llamacpp" else []


def gguf_flag(wildcards, input):
    """--agent-gguf for a playing rule whose input has its round's GGUF (model.engine llamacpp), else nothing."""
    return f"--agent-gguf {input.gguf}" if input.gguf else ""


def previous_dataset(wildcards):
    return _previous(wildcards, "results/round{k}/dataset/trajectories.jsonl")


def previous_eval(wildcards):
    """The round before's eval.json (for the accumulated success); none for round 0."""
    return [] if int(wildcards.round) == 0 else _previous(wildcards, "results/round{k}/eval.json")


def train_settings(wildcards):
    """Round k's training settings: round 0 is SFT (train.epochs_round0 epochs; no failures, so no failure keys); rounds
    >= 1 train on the contrastive dataset for train.max_steps steps (0: train.epochs), at train.warm_lr under a warm
    start. The warm-start keys themselves are left out (the adapter it continues is an input and a flag)."""
    t = config["train"]
    keys = [f"train.{key}" for key in ("lr", "batch_size", "grad_accum", "optim", "max_len", "include_observations")]
    keys += [f"qlora.{key}" for key in config["qlora"]] + ["seed"]
    if int(wildcards.round) == 0:
        return settings(keys, {"train.epochs": t["epochs_round0"]}, base=model_settings())
    keys += ["train.epochs", "train.max_steps", "train.fail_weight", "train.neg_nll_cap"]
    return settings(keys, {"train.lr": t["warm_lr"]} if t["warm_start"] else {}, base=model_settings())


def warm_start_adapter(wildcards):
    """The adapter round k >= 1 continues under train.warm_start (the round before's), else none."""
    return previous_adapter(wildcards) if config["train"]["warm_start"] and int(wildcards.round) > 0 else []


def init_adapter_flag(wildcards, input):
    """--init-adapter for a warm start's round (its input has the round before's adapter), else nothing."""
    return f"--init-adapter {input.init}" if input.init else ""


def endpoint_keys(used):
    """The endpoint keys of the stages that ask it, else none: in their settings, they rerun exactly those stages when
    the endpoint's config changes (the API key stays in its environment variable)."""
    return [f"endpoint.{key}" for key in config["endpoint"]] if used else []


def actre_flag():
    """train's --actre when the agent is its own ActRe (explore.actre self): trained on the ActRe view too."""
    return "--actre" if config["explore"]["actre"] == "self" else ""


def job_signature(rule_name, wildcards):
    """The signature of rule ``rule_name``'s job for ``wildcards`` (a3t.signatures): its params as Snakemake
    evaluates them (those computed from input or output paths left out: paths are inputs already), the
    sources of the a3t CLI its shell command runs first, and that command."""
    job_rule = workflow.get_rule(rule_name)
    wildcards = {k: str(v) for k, v in dict(wildcards).items()}
    params = {}
    for name, value in job_rule.params.items():
        if callable(value):
            if {"input", "output"} & set(inspect.signature(value).parameters):
                continue
            value = value(Wildcards(fromdict=wildcards))
        params[name] = value
    shell = job_rule.shellcmd or ""
    cli = re.search(r"\{PY\} (a3t(?:\.\w+)+)", shell)
    return make_signature(rule_name, wildcards, params, cli and cli[1], shell)


def signature(rule_name):
    """Input function: the job's current signature, newer than its outputs exactly when they were made from
    another (a3t.signatures); each rule's command records it once the stage succeeded."""
    return lambda wildcards: check(job_signature(rule_name, wildcards))
