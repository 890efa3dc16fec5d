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


def model_args():
    m = config["model"]
    args = f"--base {base_model()} --compute-dtype {COMPUTE.dtype}"
    if not m["quantize"]:
        args += " --no-quantize"
    return args


def agent_args(base=None):
    """model_args() for the stages that only generate (rollout, explore, evaluate; dagger's play, on ``base``, with
    torch: the embedded base it trains is no round's agent)."""
    m = config["model"]
    args = model_args() if base is None else model_args().replace(f"--base {base_model()} ", f"--base {base} ", 1)
    engine = ENGINE.engine if base is None else "torch"
    args += (" --merge" if m["merge_for_inference"] else "") + f" --engine {engine} --actions {m['actions']}"
    return args + f" --think-limit {m['think_limit']} --decode-chunk {m['decode_chunk']}"


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


def train_params(wildcards):
    """The train config slice round k depends on: round 0 is SFT (no failures, its own epochs); a warm start's
    rounds >= 1 learn at ``warm_lr``. The warm-start keys themselves are left out (the adapter it continues is in
    train_contrast), so that trees made before they existed stay current."""
    k = int(wildcards.round)
    drop = ("epochs", "max_steps", "fail_weight", "neg_nll_cap") if k == 0 else ("epochs_round0",)
    t = {key: v for key, v in config["train"].items() if key not in (*drop, "warm_start", "warm_lr")}
    if k > 0 and config["train"]["warm_start"]:
        t["lr"] = config["train"]["warm_lr"]
    return t


def warm_start_adapter(wildcards):
    """The adapter round k >= 1 continues under train.warm_start (the round before's), else none."""
    return previous_adapter(wildcards) if config["train"]["warm_start"] and int(wildcards.round) > 0 else []


def train_contrast(wildcards):
    """Round k >= 1's flags: the failure weight and its cap, the step count, and the adapter a warm start continues."""
    if int(wildcards.round) == 0:
        return ""
    t = config["train"]
    flags = f"--fail-weight {t['fail_weight']} --neg-nll-cap {t['neg_nll_cap']} --max-steps {t['max_steps']}"
    return flags + (f" --init-adapter {previous_adapter(wildcards)}" if t["warm_start"] else "")


def generation_params():
    """The eval keys that rollout and exploration use too (not which splits are evaluated)."""
    return {k: config["eval"][k] for k in ("batch_size", "max_new_tokens")}


def endpoint_args(used):
    """CLI flags of a3t.agents.endpoint for the stages that ask it, else none: as a param, it reruns exactly those
    stages when the endpoint's config changes (the API key stays in its environment variable)."""
    if not used:
        return ""
    e = config["endpoint"]
    return (
        f"--endpoint-url '{e['base_url']}' --endpoint-model '{e['model']}' --endpoint-key-env {e['api_key_env']} "
        f"--endpoint-cache '{e['cache']}' --endpoint-max-requests {e['max_requests']} "
        f"--endpoint-retries {e['retries']} --endpoint-timeout {e['timeout']}"
    )


def train_flags():
    t = config["train"]
    flags = "--include-observations" if t["include_observations"] else ""
    if config["explore"]["actre"] == "self":  # the agent is its own ActRe: train it on the ActRe view too
        flags += " --actre"
    return flags.strip()


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
