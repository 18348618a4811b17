"""tasks/ has no import cycles, counting the imports inside functions too (issue 11 restructure:
tasks/base <-> tasks/data <-> tasks/lmms used to import each other)."""

from __future__ import annotations

import ast
from pathlib import Path

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def _module_name(path: Path) -> str:
    rel = path.relative_to(TASKS.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """tasks modules imported anywhere in the tree (functions included), except under TYPE_CHECKING."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in modules:
                out.add(node.module)
            for a in node.names:  # `from tasks.samples import video_samples` imports a submodule
                if f"{node.module}.{a.name}" in modules:
                    out.add(f"{node.module}.{a.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def test_no_import_cycles_in_tasks():
    files = sorted(TASKS.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    graph = {_module_name(f): _imports(ast.parse(f.read_text()), modules) - {_module_name(f)} for f in files}
    assert graph["tasks.base"] and "tasks.records" in graph["tasks.base"]  # the scan sees imports
    cycles = []
    state: dict[str, int] = {}

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "tasks":  # the package's __init__ re-exports; importing it from inside is a smell too
                pass
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt])
            elif state.get(nxt) is None:
                dfs(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if state.get(module) is None:
            dfs(module, [module])
    assert cycles == []
