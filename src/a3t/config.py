"""Config validation for the workflow: one line naming the key, then ``snakemake.utils.validate``."""

from __future__ import annotations

import jsonschema
import yaml
from snakemake.utils import validate


class ConfigError(Exception):
    """A bad config key or value; the message names the key."""


def config_errors(config: dict, schema_path: str) -> list[str]:
    """Every schema violation as ``config error at a.b.c: message``."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "additionalProperties":  # name the unknown key itself, not its parent
            for key in sorted(set(err.instance) - set(err.schema.get("properties", {}))):
                known = ", ".join(sorted(err.schema.get("properties", {})))
                out.append(f"config error at {'.'.join([*path, key])}: unknown key (known here: {known})")
            continue
        out.append(f"config error at {'.'.join(path) or '(top level)'}: {err.message}")
    return out


def _schema_types(node: dict | None) -> set[str]:
    types = (node or {}).get("type", [])
    return {types} if isinstance(types, str) else set(types)


def _child_schema(node: dict | None, key: str) -> dict | None:
    node = node or {}
    extra = node.get("additionalProperties")
    return node.get("properties", {}).get(key, extra if isinstance(extra, dict) else None)


def _typed(value, node: dict | None):
    """``value`` (YAML read with every scalar a string) with each string the schema wants as another type
    parsed as YAML; a string that stays wrong is left for the schema check to name."""
    if isinstance(value, dict):
        return {k: _typed(v, _child_schema(node, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, (node or {}).get("items")) for v in value]
    types = _schema_types(node)
    if isinstance(value, str) and types and "string" not in types:
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def typed_command_line(config: dict, command_line: dict, schema_path: str) -> None:
    """Give the values of Snakemake's ``--config`` (``command_line``) in ``config`` the types the schema wants.

    Snakemake reads a nested value (``--config 'filter={min_successes: 3}'``) as YAML with every scalar a
    string and merges it into the config key by key; typed here, it is what an overlay file would give. Only
    the keys given on the command line change."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)

    def apply(conf: dict, given: dict, node: dict | None) -> None:
        for key, value in given.items():
            child = _child_schema(node, key)
            if isinstance(value, dict) and isinstance(conf.get(key), dict):
                apply(conf[key], value, child)
            else:
                conf[key] = _typed(value, child)

    apply(config, dict(command_line), schema)


def validate_config(config: dict, schema: str) -> None:
    """Raise :class:`ConfigError` listing every bad key; else validate with Snakemake (fills defaults)."""
    errors = config_errors(config, schema)
    if errors:
        raise ConfigError("\n".join(errors))
    validate(config, schema=schema)


def canonical(value):
    """``value`` with every mapping's keys sorted (recursively), lists kept in order."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value
