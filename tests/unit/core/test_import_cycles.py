"""No import cycles between the modules of ``usam_toolkit/`` and ``plugins/`` (``usam_plugins``).

Every module is parsed with :mod:`ast` (nothing is imported). Two graphs are checked:

- **runtime**: an edge ``a -> b`` is an import that runs when ``a`` is imported: module level, class
  bodies, ``try``/``if`` blocks; not imports inside functions and not those under ``if TYPE_CHECKING:``.
  A cycle here can fail at import time, depending on which module is imported first.
- **layering**: every import, deferred ones inside functions included (``TYPE_CHECKING`` still
  excluded). Importing inside a function is the way to keep a heavy import off the listing path, not a
  way to let two modules depend on each other: the model must not call back into the inference facade
  (api -> pipeline -> model, one way), nor a plugin's config module into its model module.

``from pkg import x`` is an edge to ``pkg.x`` when that is a module, else to ``pkg``. Importing ``a.b``
also runs ``a``'s ``__init__``, but that implicit parent edge is left out: a package whose ``__init__``
re-exports its sub-modules would otherwise be a "cycle" with each of them, which Python handles fine.

A cycle is a strongly connected component with more than one module (Tarjan's algorithm).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
#: import package -> folder holding it
ROOTS = {"usam_toolkit": REPO / "usam_toolkit", "usam_plugins": REPO / "plugins"}


def discover() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is_package) for every module under :data:`ROOTS`."""
    modules: dict[str, tuple[Path, bool]] = {}
    for package, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts]
            if any(not p.isidentifier() for p in parts):
                continue
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            modules[".".join([package, *parts])] = (path, is_pkg)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements executed when the module is imported (functions and TYPE_CHECKING excluded)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _runtime_imports(node.body)
            found += _runtime_imports(node.orelse)
        elif isinstance(node, ast.ClassDef):
            found += _runtime_imports(node.body)
        else:
            for name in ("body", "orelse", "finalbody"):
                found += _runtime_imports(getattr(node, name, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                found += _runtime_imports(handler.body)
            for case in getattr(node, "cases", []) or []:  # match statements
                found += _runtime_imports(case.body)
    return found


def _all_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, deferred ones included; only ``if TYPE_CHECKING:`` blocks are left out."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            found += _all_imports(node.orelse)
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                found += _all_imports([child])
            elif isinstance(child, ast.excepthandler) or type(child).__name__ == "match_case":
                found += _all_imports(child.body)
    return found


def _known(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """``name`` or its longest prefix that is one of our modules; None for third-party modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (``deferred``: imports inside functions too)."""
    collect = _all_imports if deferred else _runtime_imports
    modules = discover()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_pkg) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if is_pkg else name.rpartition(".")[0]
        for node in collect(tree.body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = package.split(".")
                    if node.level > 1:
                        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                known = _known(target, modules)
                if known is not None and known != name:
                    graph[name].add(known)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components with more than one node, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"    {a} -> {b}" for a in component for b in sorted(graph[a]) if b in members]
    return "  cycle among " + ", ".join(component) + ":\n" + "\n".join(edges)


def test_the_graph_sees_the_packages() -> None:
    graph = import_graph()
    assert "usam_toolkit.registry" in graph and "usam_plugins.encoders" in graph
    assert "usam_toolkit.errors" in graph["usam_toolkit.registry"]  # `from .errors import ...`


def test_tarjan_finds_a_cycle_and_ignores_a_chain() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_which_imports_count_as_edges() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import usam_toolkit.api\n"
        "def f():\n    import usam_toolkit.pipeline\n"
        "class C:\n    def g(self):\n        from usam_toolkit import model\n"
        "try:\n    import usam_toolkit.errors\nexcept ImportError:\n    import usam_toolkit.config\n"
    )
    body = ast.parse(source).body

    def names(found: list[ast.Import | ast.ImportFrom]) -> list[str]:
        return [
            (n.module + ":" if isinstance(n, ast.ImportFrom) else "") + a.name for n in found for a in n.names
        ]

    assert names(_runtime_imports(body)) == [
        "typing:TYPE_CHECKING",
        "usam_toolkit.errors",
        "usam_toolkit.config",
    ]
    assert names(_all_imports(body)) == [
        "typing:TYPE_CHECKING",
        "usam_toolkit.pipeline",
        "usam_toolkit:model",
        "usam_toolkit.errors",
        "usam_toolkit.config",
    ]


def _assert_acyclic(graph: dict[str, set[str]], what: str) -> None:
    cycles = strongly_connected(graph)
    assert not cycles, f"{what} import cycles (move the shared part into a module both can import):\n" + (
        "\n".join(_describe(c, graph) for c in cycles)
    )


def test_no_import_cycles_at_import_time() -> None:
    _assert_acyclic(import_graph(), "module-level")


def test_no_import_cycles_counting_deferred_imports() -> None:
    _assert_acyclic(import_graph(deferred=True), "layering (deferred imports included)")
