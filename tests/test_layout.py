"""The layout draws the architecture: the dependency rules of docs/architecture.md, checked on the imports the
code makes (at run time and for types alike), and no import circle between modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import rungwise

SRC = Path(rungwise.__file__).resolve().parent

#: package -> the rungwise packages it must not import (a module's own package is always allowed)
FORBIDDEN = {
    # the judgement reads rung kinds from the ladder's registry, and nothing that runs or stores
    "judge": {"engine", "models", "store", "record", "report", "distillation", "retrieval", "finetune", "cli"},
    "record": {"engine", "models", "report", "distillation", "rungs", "retrieval", "finetune", "cli"},
    "report": {"engine", "models", "rungs", "retrieval", "finetune", "distillation", "cli"},
    "finetune": {"engine", "store", "record", "report", "distillation", "rungs", "retrieval", "judge", "cli"},
    "models": {"engine", "store", "record", "report", "distillation", "rungs", "judge", "cli"},
    "store": {"engine", "record", "report", "distillation", "rungs", "judge", "retrieval", "finetune", "cli"},
    "task": {"engine", "store", "record", "report", "distillation", "rungs", "finetune", "cli"},
    "metrics": {"engine", "store", "record", "report", "distillation", "rungs", "judge", "finetune", "cli"},
    "retrieval": {"engine", "store", "record", "report", "distillation", "rungs", "judge", "finetune", "cli"},
    "rungs": {"engine", "store", "record", "report", "distillation", "cli"},
    # the search is a loop on a scoring function it is given: it calls no model and stores nothing itself
    "prompt_search": {"engine", "models", "store", "record", "report", "distillation", "rungs", "retrieval",
                      "finetune", "judge", "cli"},
    "engine": {"report", "distillation", "cli"},
}
#: what a rule allows all the same: the renderers of commands whose output is not a climb's record (the gate's
#: verdicts, a comparison, several models' climbs, a server's capabilities) read those results' types
ALLOWED = {"report": {"engine.compare", "engine.gate", "engine.multi", "models.base"}}
#: the modules at the top of the package: support everything may use, which itself uses no subpackage
SUPPORT = {"errors", "textsafe", "redaction", "outputs", "cancel", "progress", "paths", "_version"}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The rungwise modules `path` imports (a package's submodules named in `from pkg import mod` included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("rungwise.") for a in node.names if a.name.startswith("rungwise.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                (node.module == "rungwise" or node.module.startswith("rungwise.")):
            base = node.module.removeprefix("rungwise").removeprefix(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}".strip(".")
                found.add(sub if (SRC / (sub.replace(".", "/") + ".py")).exists()
                          or (SRC / sub.replace(".", "/")).is_dir() else base)
    return {f for f in found if f}


GRAPH = {_module(p): _imports(p) for p in SRC.rglob("*.py")}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_rule_allows(package: str) -> None:
    broken = sorted(f"{mod} imports {dep}" for mod, deps in GRAPH.items() if mod.split(".")[0] == package
                    for dep in deps if dep.split(".")[0] in FORBIDDEN[package] and dep.split(".")[0] != package
                    and dep not in ALLOWED.get(package, set()))
    assert not broken, broken


def test_support_modules_use_no_subpackage() -> None:
    broken = sorted(f"{mod} imports {dep}" for mod, deps in GRAPH.items() if mod in SUPPORT
                    for dep in deps if dep.split(".")[0] not in SUPPORT and dep != "")
    assert not broken, broken


def test_the_top_of_the_package_holds_only_support_the_cli_and_the_entry_points() -> None:
    top = {p.stem for p in SRC.glob("*.py")}
    assert top <= SUPPORT | {"__init__", "__main__", "cli", "cli_flags"}, sorted(top - SUPPORT)


def test_no_import_circle() -> None:
    """Between modules, counting imports made for types only too: a circle of any kind is a seam drawn wrong."""
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, deps in GRAPH.items():
        graph[mod] = {d for d in deps if d in GRAPH and d != mod and not mod.startswith(d + ".")
                      and d != "" and not (d.count(".") == 0 and (SRC / d).is_dir())}
    state: dict[str, int] = {}
    path: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, [" -> ".join(c) for c in circles]


def test_no_exported_name_shadows_a_module() -> None:
    """`import rungwise.gate` must give a module and `mock.patch("rungwise.climb.X")` patch something: no name in
    the public surface is also a module or package at the top of rungwise."""
    top = {p.stem for p in SRC.glob("*.py")} | {p.name for p in SRC.iterdir() if p.is_dir()}
    assert not set(rungwise.__all__) & top, sorted(set(rungwise.__all__) & top)
