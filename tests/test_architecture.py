"""The apps' allowed dependencies (docs/architecture.md), checked on every import in the
production code — top-level ones and those inside functions alike."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each app and the apps it may import; config is the composition root and may import any.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "merchants": {"core"},
    "tokenization": {"core", "merchants"},
    "ledger": {"core", "merchants"},
    "fraud": {"core", "merchants", "tokenization"},
    "routing": {"core", "merchants", "tokenization"},
    "payments": {"core", "merchants", "tokenization", "ledger", "fraud", "routing"},
    "disputes": {"core", "merchants", "tokenization", "ledger", "fraud", "routing", "payments"},
}
APPS = {*ALLOWED, "config"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for app in sorted(APPS)
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    }


def _imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The modules of ours that `path` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {module for module in found if module in known}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, name, known) for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_every_import_follows_the_allowed_directions():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (app := module.split(".")[0]) != "config"
        and (other := target.split(".")[0]) != app
        and other not in ALLOWED[app]
    )
    assert wrong == []


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("def f():\n    from payments import services\n")
    known = {"payments.services": source, "payments": source}
    assert _imports(source, "ledger.sample", known) == {"payments", "payments.services"}


def test_the_checker_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
