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
