"""hpo_tasks never imports airflow; importing it stays cheap (no torch/botorch/mlflow/xgboost); no import
cycle among its modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_hpo_tasks_never_imports_airflow() -> None:
    offenders = []
    for path in (REPO / "hpo_tasks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "airflow"]
    assert offenders == []


def test_import_is_cheap() -> None:
    code = (
        "import sys, hpo_tasks.config, hpo_tasks.dag_docs, hpo_tasks.steps, hpo_tasks.summary;"
        "heavy = {'torch', 'botorch', 'mlflow', 'xgboost', 'sklearn'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, read with ast (nothing is imported). Module-level and
    function-level imports both count (a lazy import still ties two modules together); relative imports
    are resolved; ``from pkg import name`` counts ``pkg.name`` when that is a module, else ``pkg``. As in
    /work/shared/tools/import_cycles.py, a submodule importing its own package (or the root package)
    is not an edge: the package's ``__init__`` runs first either way."""
    pkg = root.name
    mods: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [source] + [f"{source}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target not in (mod, pkg) and not mod.startswith(target + "."):
                    edges[mod].add(target)
    return edges


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle as the path of modules round it (``a -> b -> a``), one per strongly connected component
    with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)

    def path_round(comp: set[str]) -> list[str]:
        """A shortest cycle through the component's first module (breadth-first inside the component)."""
        start = min(comp)
        prev: dict[str, str] = {}
        frontier = [start]
        while frontier:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v] & comp):
                    if w == start:
                        path = [v]
                        while path[-1] != start:
                            path.append(prev[path[-1]])
                        return [start, *reversed(path[:-1]), start]
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        raise AssertionError(comp)  # a strongly connected component always has a cycle

    return [path_round(c) for c in components]


def test_hpo_tasks_has_no_import_cycle() -> None:
    edges = import_graph(REPO / "hpo_tasks")
    assert len(edges) > 40 and sum(map(len, edges.values())) > 100  # the graph was read
    cycles = import_cycles(edges)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    """A tmp package with a lazy, relative cycle a -> sub.b -> a and a cycle-free c -> a."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a  # function-level\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\nfrom pkg import sub\n")
    edges = import_graph(pkg)
    assert edges["pkg.a"] == {"pkg.sub", "pkg.sub.b"} and edges["pkg.sub.b"] == {"pkg.a"}
    assert edges["pkg.c"] == {"pkg.a", "pkg.sub"}
    assert import_cycles(edges) == [["pkg.a", "pkg.sub.b", "pkg.a"]]

    (pkg / "sub" / "b.py").write_text("X = 1\n")  # the cycle broken
    assert import_cycles(import_graph(pkg)) == []
