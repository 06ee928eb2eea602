"""The package's floors (shared/DESIGN.md): commands above jobs above the core above render, optics and io. Every
import of refocus_cli, at module level or inside a function, goes down a floor or stays on its own; a job never
imports another job (the bench, which times them, excepted); no module imports itself back through others; no
module is over 400 lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "refocus_cli"
MAX_LINES = 400

FLOORS: dict[str, int] = {
    # the face: the Typer app and one module per command
    "cli": 4,
    "commands": 4,
    "batch": 4,  # any job's tasks over files, here, in local workers or on Ray: it runs the jobs
    "__main__": 4,
    # the jobs: each a pipe from source to sink, built from the core, never from each other
    "image": 3,
    "video": 3,
    "stack": 3,
    "simulate": 3,
    "generate": 3,
    "bench": 3,
    "learned.train": 3,
    # the core
    "focus": 2,
    "depth": 2,
    "restore": 2,
    "engines": 2,
    "learned": 2,
    "autofocus": 2,
    "config": 2,
    # the ground floor: tensors and files in, tensors and files out
    "render": 1,
    "lens": 1,
    "aperture": 1,
    "io": 1,
    "colour": 1,
    "filters": 1,
    "metrics": 1,
    "errors": 1,
    "registry": 1,
    "devices": 1,
    "memory": 1,
    "modes": 1,
    "highlights": 1,
    "pool": 1,
    "shipped": 1,  # where the bundled models and completion scripts are: the wheel's package data or the checkout
    "completions": 4,
    "fusion": 2,
    "refocus_cli": 1,
}
JOBS = {unit for unit, floor in FLOORS.items() if floor == 3}
MEASURES_OTHER_JOBS = {"bench"}
"""The bench times and scores the other jobs (the video pipe's fps and flicker), so it runs them."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The floor's unit a module belongs to: its top package or module (learned.train is a job of its own)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "refocus_cli"
    if parts[1:3] == ["learned", "train"]:
        return "learned.train"
    return parts[1]


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph() -> dict[str, set[str]]:
    """module -> the refocus_cli modules it imports anywhere in its body (not under `if TYPE_CHECKING`)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            if _type_checking_only(node, parents):
                continue
            for name in names:
                while name and name not in modules:
                    name = name.rsplit(".", 1)[0] if "." in name else ""
                if name and name != module:
                    graph[module].add(name)
    return graph


def test_every_unit_has_a_floor() -> None:
    units = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units <= set(FLOORS), f"add these to FLOORS (and to shared/DESIGN.md's layout): {units - set(FLOORS)}"


def test_imports_go_down_never_up_and_jobs_do_not_import_jobs() -> None:
    wrong = []
    for module, imported in import_graph().items():
        for other in imported:
            a, b = unit_of(module), unit_of(other)
            if FLOORS[b] > FLOORS[a]:
                wrong.append(f"{module} (floor {FLOORS[a]}) imports {other} (floor {FLOORS[b]})")
            elif a != b and a in JOBS and b in JOBS and a not in MEASURES_OTHER_JOBS:
                wrong.append(f"{module} imports another job, {other}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_cycles_between_modules() -> None:
    graph = import_graph()
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split by job: {long}"


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The walker is not blind: the image command's in-function import of the library shows in its graph."""
    graph = import_graph()
    assert any(name.startswith("refocus_cli.image") for name in graph["refocus_cli.commands.image"])
    assert _strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return found
