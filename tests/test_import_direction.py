"""Imports flow one way: core ← labeling ← classifiers ← activelearning ← frontend ← fixtures (demo content),
with config on top. Every module is read with ``ast``, imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ["core", "labeling", "classifiers", "activelearning", "frontend", "fixtures", "config"]
RANK = {app: floor for floor, app in enumerate(FLOORS)}


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in FLOORS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = project_modules()


def imported_names(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the module, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.append((node.lineno, base))
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def project_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = {project_module(name) for _, name in imported_names(module, path)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def test_the_floors_are_all_found():
    assert {name.partition(".")[0] for name in MODULES} == set(FLOORS)
    assert len(MODULES) > 100


def test_no_module_imports_a_higher_floor():
    upward = []
    for module, path in MODULES.items():
        floor = RANK[module.partition(".")[0]]
        for line, name in imported_names(module, path):
            app = name.partition(".")[0]
            if app in RANK and RANK[app] > floor:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert upward == []


def test_no_project_module_uses_importlib():
    users = [
        f"{path.relative_to(ROOT)}:{line}"
        for module, path in MODULES.items()
        for line, name in imported_names(module, path)
        if name.partition(".")[0] == "importlib"
    ]
    assert users == []


def test_no_project_import_is_guarded_or_looked_up_by_name():
    """An import of the project's own code that may fail (``try/except ImportError``) or a ``getattr`` of a
    module for an optional hook hides a dependency from this test and from the reader."""
    hidden = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                guarded = ast.Module(body=node.body, type_ignores=[])
                for line, name in imported_names(module, path):
                    if name.partition(".")[0] in RANK and any(
                        getattr(n, "lineno", None) == line for n in ast.walk(guarded)
                    ):
                        hidden.append(f"{path.relative_to(ROOT)}:{line} guards an import of {name}")
    assert hidden == []


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_spans_two_apps():
    spanning = [c for c in strongly_connected(import_graph()) if len({m.partition(".")[0] for m in c}) > 1]
    assert spanning == []


def test_no_import_circle_inside_an_app():
    assert strongly_connected(import_graph()) == []


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [("labeling.votes", "from classifiers import registry", "classifiers.registry")],
)
def test_it_reads_imports_inside_functions(module, line, expected, tmp_path):
    path = tmp_path / "votes.py"
    path.write_text(f"def f():\n    {line}\n")
    assert (2, expected) in imported_names(module, path)
