"""The shape of the package (docs/design.md): no import cycle, one effect runtime, small files.

The floors themselves are checked by the import-linter contracts in pyproject.toml
(``lint-imports`` in scripts/test.sh); these tests add what a layers contract cannot
see: cycles between a package and its own modules, and the source-level rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src" / "credlti"
MAX_LINES = 700


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over the module graph (iterative, deterministic)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & graph.modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if i < len(targets):
                work.append((node, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
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
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_import_cycle_between_any_two_modules() -> None:
    """Runtime and TYPE_CHECKING imports alike: the module graph is acyclic."""
    graph = grimp.build_graph("credlti", exclude_type_checking_imports=False, cache_dir=None)

    assert _strongly_connected(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")

    assert _strongly_connected(graph) == [["p.a", "p.b"]]


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _catches_stop_iteration(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if any(isinstance(n, ast.Name) and n.id == "StopIteration" for n in names):
                return True
    return False


def test_only_the_effect_runtime_drives_generators() -> None:
    """`except StopIteration` (a hand-written effect loop) lives in credlti._effects only."""
    drivers = [p.relative_to(SRC).as_posix() for p in _sources() if _catches_stop_iteration(p)]

    assert drivers == ["_effects.py"]


def test_no_module_is_too_long() -> None:
    """One reason to change per module: none above ~700 lines except the error tree."""
    long = {
        p.relative_to(SRC).as_posix(): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    long.pop("errors.py", None)

    assert long == {}


def test_import_credlti_lti_loads_only_what_a_launch_needs() -> None:
    """Services, deep linking, registration, httpx and asyncio load on first use, not on import."""
    import subprocess
    import sys

    lazy = (
        "credlti.lti.services",
        "credlti.lti.deep_linking",
        "credlti.lti.registration",
        "asyncio",
        "httpx",
    )
    code = f"import sys, credlti.lti; print(' '.join(m for m in {lazy!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.split() == []
