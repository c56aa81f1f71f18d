"""The case API's packages import one another one way only, and its record kinds are declared once.

A cycle between packages (`cases` importing `councils`, which imports `cases`) makes each one
impossible to read, test or change alone; this reads every `import` of the source (no import runs).
One exemption: `runtime.py` names, for their types alone (under `TYPE_CHECKING`), the running parts that
`app.py`, the composition root, builds from the packages (the SLA watcher, the reconciler, the write
hooks); packages read them through its typed dependency. Those type-only names are the composition
root's, not an edge from a package; any other type-only import still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ictg_cases

ROOT = Path(ictg_cases.__file__).parent
# The shared core every feature builds on: it names no feature.
CORE = {"cases", "domain"}
FEATURES = {"allocations", "contacts", "missing", "records", "workers"}


def _package(path: Path) -> str:
    """A subpackage's name, or `<module>` for a module of the top level (`models`, `kinds`…)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0] if len(parts) > 1 else f"<{parts[0]}>"


COMPOSITION_TYPES = {"<runtime>"}


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements under `if TYPE_CHECKING:`."""
    return {
        n
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
        for stmt in block.body
        for n in ast.walk(stmt)
    }


def _imported(path: Path) -> set[str]:
    """The packages (or top-level modules) of `ictg_cases` that the module at `path` imports."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)[:-1]  # the module's own package
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_only(tree) if _package(path) in COMPOSITION_TYPES else set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        names: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = (node.module or "").split(".") if node.module else []
            if node.level:
                target = base + module
                names = [[*target, a.name] for a in node.names] if not module else [target]
            elif module[:1] == ["ictg_cases"]:
                names = [[*module[1:], a.name] for a in node.names] if len(module) == 1 else [module[1:]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "ictg_cases"]
        for name in names:
            if not name:
                continue
            head = name[0]
            found.add(head if (ROOT / head).is_dir() else f"<{head}>")
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        source = _package(path)
        graph.setdefault(source, set()).update(p for p in _imported(path) if p != source)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of packages that reach one another (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_scan_sees_the_imports() -> None:
    graph = _graph()
    assert "cases" in graph["records"] and "<kinds>" in graph["councils"]


def test_no_package_imports_one_that_imports_it_back() -> None:
    assert _cycles(_graph()) == []


def test_the_runtime_imports_nothing_but_settings_when_it_runs() -> None:
    # what the exemption leaves: an import that runs from runtime.py to a package would show here
    assert _graph()["<runtime>"] == {"<settings>"}
