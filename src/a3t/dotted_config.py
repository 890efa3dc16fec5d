"""One clear line for a dotted ``--config`` key, which Snakemake cannot read.

Snakemake's ``--config`` takes top-level keys only: ``--config filter.min_successes=3`` stops in its own
traceback ("Config entry must start with a valid identifier") before the workflow is read. What works is
the key's mapping as a YAML value, which Snakemake merges into the config key by key (the workflow types
its values by config/schema.yaml: ``a3t.config.typed_command_line``), or an overlay file:

    snakemake --config 'filter={min_successes: 3}'
    snakemake --configfile my-overlay.yaml

``make`` installs a ``.pth`` file into the environment (``python -m a3t.dotted_config --install``), so that
any ``snakemake`` started there with ``--config`` has its ``parse_config`` checked first: a dotted key
exits with status 2 and one line that shows the working form of the whole ``--config``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "a3t_dotted_config.pth"
# One line, which site.py executes since it starts with "import": a3t is imported only for a --config, if it is there.
PTH_LINE = (
    "import importlib.util, sys; any(a in ('--config', '-C') or a.startswith('--config=') for a in sys.argv) and "
    "importlib.util.find_spec('a3t') and __import__('a3t.dotted_config').dotted_config.install()\n"
)
_DOTTED = re.compile(r"([A-Za-z_][\w-]*(?:\.[\w-]+)+)=(.*)", re.S)


def _flow(value) -> str:
    """A nested dict of raw strings as a YAML flow mapping: ``{b: {c: 1}}``."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return value


def error_line(entries: list[str]) -> str | None:
    """The one line for ``entries`` with a dotted key: the first such key, and the ``--config`` that Snakemake
    reads for all of them (each dotted section as a YAML mapping); None when no key is dotted."""
    nested: dict[str, dict] = {}
    plain, first = [], None
    for entry in entries:
        dotted = _DOTTED.fullmatch(entry)
        if not dotted:
            plain.append(entry)
            continue
        first = first or dotted[1]
        *parents, leaf = dotted[1].split(".")
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = dotted[2]
    if first is None:
        return None
    form = " ".join(map(shlex.quote, plain + [f"{key}={_flow(value)}" for key, value in nested.items()]))
    return (
        f"config error at {first}: --config takes top-level keys only; write --config {form} "
        "(merged into the config key by key), or put the keys in an overlay file given with --configfile"
    )


def _checked(parse_config):
    def parse_config_or_exit(entries):
        line = error_line(list(entries or []))
        if line:
            print(line, file=sys.stderr)
            sys.exit(2)
        return parse_config(entries)

    return parse_config_or_exit


def install() -> None:
    """Wrap ``snakemake.cli.parse_config`` once it is imported (the .pth line calls this for a ``--config``)."""
    import importlib.abc
    import importlib.util

    class _WrapSnakemakeCli(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname != "snakemake.cli":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_wrap(module):
                exec_module(module)
                if callable(getattr(module, "parse_config", None)):
                    module.parse_config = _checked(module.parse_config)

            spec.loader.exec_module = exec_and_wrap
            return spec

    sys.meta_path.insert(0, _WrapSnakemakeCli())


def pth_path() -> Path:
    return Path(sysconfig.get_path("purelib")) / PTH_NAME


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.dotted_config", description=__doc__.splitlines()[0])
    p.add_argument("--install", action="store_true", help=f"write {PTH_NAME} into this environment's site-packages")
    args = p.parse_args(argv)
    if args.install:
        pth_path().write_text(PTH_LINE)
        print(pth_path())


if __name__ == "__main__":
    main()
