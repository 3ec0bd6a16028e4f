"""The package's import graph, read from the source with ``ast``: layers point one way and nothing loops.

Rules: only the command line (``hifacegan.cli``) parses arguments, no library module reaches up into the
command line, and no chain of imports leads back to where it started. Imports inside functions count (a
lazy import is still a dependency, and a loop of them is still a loop); imports under ``TYPE_CHECKING`` do
not (they never run). Importing ``a.b.c`` runs the ``__init__`` of ``a.b`` first, so that edge counts too,
except for the importer's own packages, which are already being imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "hifacegan"
CLI = "hifacegan.cli"
# `python -m hifacegan` is the command line's other door: it may import it.
ENTRY_POINTS = {"hifacegan.__main__"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SOURCE / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def _imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports (``from a import b`` gives ``a`` and ``a.b``), TYPE_CHECKING aside."""
    names: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(edges between the package's modules, every top-level name each module imports)``."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for module, path in modules.items():
        imported = _imported_names(module, path)
        external[module] = {name.split(".")[0] for name in imported}
        own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
        targets = set()
        for name in imported:
            parts = name.split(".")
            # The module itself and each package on the way, as far as they are modules of ours.
            targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in modules)
        edges[module] = targets - own
    return edges, external


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                connect(target)
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

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    return _graph()


def _in_cli(module: str) -> bool:
    return module == CLI or module.startswith(CLI + ".")


def test_the_graph_sees_the_package(graph):
    edges, external = graph
    assert {"hifacegan.jobs", "hifacegan.jobs.file_job", "hifacegan.cli.restore", "hifacegan.batch.runner"} <= set(edges)
    assert "hifacegan.jobs.file_job" in edges["hifacegan.batch.runner"] | edges["hifacegan.jobs"]
    assert "argparse" in external["hifacegan.cli.restore"]


def test_only_the_command_line_parses_arguments(graph):
    _, external = graph
    assert sorted(m for m, names in external.items() if "argparse" in names and not _in_cli(m)) == []


def test_no_library_module_imports_the_command_line(graph):
    edges, _ = graph
    offenders = {m: sorted(t for t in targets if _in_cli(t)) for m, targets in edges.items()
                 if not _in_cli(m) and m not in ENTRY_POINTS}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_import_loops(graph):
    edges, _ = graph
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
