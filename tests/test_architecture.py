"""The layout's rules, read from the source with ``ast``: imports go one way (no cycles among
runner/, kernels/ and hydra_plugins/), kernels never import the runner, tasks are leaves, and
nothing imports Hydra's private modules.  Every import counts, also one inside a function:
a lazy import hides a cycle from the interpreter, not from the reader."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterable, List, Set

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("runner", "kernels", "hydra_plugins")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules_under(root: Path, packages: Iterable[str]) -> Dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def imported_names(path: Path, name: str, is_package: bool) -> Iterable[str]:
    """Every module name that ``path`` imports (absolute, with relative imports resolved), and
    for ``from M import x`` also ``M.x`` (x may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> Dict[str, Set[str]]:
    """module -> the modules of ``packages`` it imports.  ``from a.b import c`` is an edge to
    ``a.b.c`` when that is a module, else to ``a.b``; a package's ``__init__`` counts only
    when something is taken from it."""
    modules = modules_under(root, packages)
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target in imported_names(path, name, path.name == "__init__.py"):
            if target in modules and target != name:
                if f"{target}." in name + "." and path.name != "__init__.py":
                    continue   # a module's own parent package, imported as a side effect only
                graph[name].add(target)
        # `from a.b import c` where c is a module: drop the edge to a.b (only c was taken)
        for target in list(graph[name]):
            if any(other.startswith(target + ".") for other in graph[name]) and _only_submodules(
                    path, name, target, modules):
                graph[name].discard(target)
    return graph


def _only_submodules(path: Path, name: str, package: str, modules) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == package:
            if any(f"{package}.{a.name}" not in modules for a in node.names):
                return False
        if isinstance(node, ast.Import) and any(a.name == package for a in node.names):
            return False
    return True


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# ---- the rules, on this repository --------------------------------------------------------

def test_no_import_cycles():
    graph = import_graph(REPO)
    assert len(graph) > 60, "the graph should cover runner/, kernels/ and hydra_plugins/"
    assert cycles(graph) == []


def test_kernels_never_import_the_runner():
    graph = import_graph(REPO)
    offending = {m: sorted(t for t in ts if t.split(".")[0] in ("runner", "hydra_plugins"))
                 for m, ts in graph.items() if m.startswith("kernels")}
    assert {m: ts for m, ts in offending.items() if ts} == {}


def test_tasks_are_leaves():
    """No task imports another task (what two tasks share lives below both), and nothing
    below the tasks imports a task."""
    graph = import_graph(REPO)
    tasks = {m for m in graph if m.startswith("runner.tasks.") and m != "runner.tasks.registry"}
    into_tasks = {m: sorted(graph[m] & tasks) for m in graph if graph[m] & tasks}
    assert into_tasks == {}


def declared_imports(init: Path) -> Set[str]:
    """The runner wings and ``kernels`` named after "May import:" in a wing's docstring."""
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    _, _, allowed = doc.partition("May import:")
    return {m.split(".")[1] for m in re.findall(r"runner\.\w+", allowed)} | (
        {"kernels"} if "kernels" in allowed else set())


def wing_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "runner" and len(parts) > 1 else parts[0]


def test_each_wing_imports_only_what_its_docstring_allows():
    """A wing's ``__init__`` says what it may import; the code keeps to it (and so the
    docstring stays true)."""
    graph = import_graph(REPO)
    wings = sorted(p.parent for p in (REPO / "runner").glob("*/__init__.py"))
    assert len(wings) >= 10
    broken = {}
    for wing in wings:
        allowed = declared_imports(wing / "__init__.py")
        assert allowed, f"runner/{wing.name}/__init__.py does not say what it may import"
        used = {wing_of(t) for m, ts in graph.items() if wing_of(m) == wing.name and m.startswith("runner.")
                for t in ts if t.split(".")[0] in ("runner", "kernels")} - {wing.name}
        if used - allowed:
            broken[wing.name] = sorted(used - allowed)
    assert broken == {}


def test_tasks_print_nothing():
    for path in sorted((REPO / "runner" / "tasks").glob("*.py")):
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
        assert not calls, f"{path.name} prints (line {calls[0].lineno}); a task returns a Result"


def test_no_private_hydra_imports():
    offending = []
    for name, path in modules_under(REPO, PACKAGES).items():
        text = path.read_text()
        for target in imported_names(path, name, path.name == "__init__.py"):
            if target.startswith("hydra._internal") and "hydra-internal-ok" not in text:
                offending.append((name, target))
    assert offending == []


# ---- the checker itself, on synthetic packages ----------------------------------------------

def _package(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_a_reintroduced_cycle(tmp_path):
    """The cycle this layout removed (app -> sweep -> workers -> app), rebuilt in a toy package,
    once with a lazy import inside a function: both are found."""
    root = _package(tmp_path, {
        "runner/__init__.py": "",
        "runner/app.py": "from runner.sweep import callback\n",
        "runner/sweep/__init__.py": "",
        "runner/sweep/callback.py": "from runner.sweep import workers\n",
        "runner/sweep/workers.py": "def warm():\n    from runner import app\n",
        "runner/result.py": "",
    })
    assert cycles(import_graph(root, ["runner"])) == [
        ["runner.app", "runner.sweep.callback", "runner.sweep.workers"]]
    (root / "runner/sweep/workers.py").write_text("from runner import result\n")
    assert cycles(import_graph(root, ["runner"])) == []


def test_checker_resolves_relative_imports_and_submodules(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "from .a import thing\n",
        "pkg/a.py": "from . import b\nthing = 1\n",
        "pkg/b.py": "from pkg import a\n",
    })
    graph = import_graph(root, ["pkg"])
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
