"""The package's layout shows the workflow: one stage module per rules file, and no import circle."""

from __future__ import annotations

import re
from pathlib import Path

from a3t.sources import ROOT, _imports

RULES = Path(__file__).resolve().parents[1] / "rules"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def import_circles() -> list[list[str]]:
    """Every circle of a3t modules importing each other (imports inside functions count too)."""
    graph = {_module_name(p): _imports(p) for p in ROOT.rglob("*.py")}
    state: dict[str, int] = {}
    path: list[str] = []
    found = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph[module] & graph.keys()):
            if state.get(other) == 1:
                found.append(path[path.index(other) :] + [other])
            elif other not in state:
                visit(other)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_no_import_circle():
    assert import_circles() == []


LAYERS = {"stages": 3, "agents": 2, "envs": 1}  # the core (modules at the package's root) is 0


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 2 or parts[-1] in LAYERS else 0


def test_imports_point_down_the_layers():
    """stages -> agents -> envs -> core: no module imports from a layer above its own."""
    upward = [
        (_module_name(p), other) for p in ROOT.rglob("*.py") for other in _imports(p) if _layer(other) > _layer(_module_name(p))
    ]
    assert upward == []


def test_each_rules_file_runs_its_own_stage_module():
    """rules/<name>.smk runs ``a3t.stages.<name>`` (and a3t.signatures), and each stage module has its rules file."""
    stages = {p.stem for p in (ROOT / "stages").glob("*.py") if p.stem != "__init__"}
    rule_files = {p.stem: p.read_text() for p in RULES.glob("*.smk") if p.stem != "common"}
    assert set(rule_files) == stages
    for name, text in rule_files.items():
        commands = set(re.findall(r"\{PY\} (a3t(?:\.\w+)+)", text)) - {"a3t.signatures"}
        assert commands == {f"a3t.stages.{name}"}, name
