"""The case API's packages import one another one way only, and its record kinds are declared once.

A cycle between packages (`cases` importing `councils`, which imports `cases`) makes each one
impossible to read, test or change alone; this reads every `import` of the source (no import runs).
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


def _imported(path: Path) -> set[str]:
    """The packages (or top-level modules) of `ictg_cases` that the module at `path` imports."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)[:-1]  # the module's own package
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
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


def test_the_core_names_no_feature() -> None:
    graph = _graph()
    for core in CORE:
        assert not graph[core] & (FEATURES | {"councils", "casefile", "exits", "admin", "<kinds>"}), core


def test_a_record_kind_is_declared_once() -> None:
    from ictg_cases import kinds
    from ictg_cases.cases import schemas
    from ictg_cases.councils import view

    assert len({k.path for k in kinds.KINDS}) == len(kinds.KINDS)
    for kind in kinds.KINDS:
        assert kind.time in kind.row.__table__.columns, kind.path
        if kind.create is not None:
            assert kind.time in kind.create.model_fields, kind.path
        if kind.event is not None:
            assert kind.time in kind.event.model_fields and kind.event_id in kind.event.model_fields, kind.path
        assert (kind.path in view.SHARED) == (kind.council is not None), kind.path
        assert kind.entry in schemas.KINDS, f"{kind.entry} is missing from the timeline's documented kinds"
