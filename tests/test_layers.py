"""The package's folders are its layers and imports point down them (DESIGN.md, "Layers and seams").

Reads every module's imports with ``ast`` (top-level, inside functions and under ``TYPE_CHECKING``
alike: an import is a dependency wherever it is written) and fails when one runs up the layers,
when modules import each other in a circle, or when a private name is imported from another module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "eventkit"

#: Bottom to top. A module may import modules of its own layer or of layers before it in this list.
#: "top" is the modules directly in eventkit/: the command line, the demo, the public re-export paths
#: (eventkit.trends, eventkit.whatif, ...) and the package's __init__.
LAYERS = ["common", "store", "fold", "analysis", "samples", "report", "interop", "top"]


def modules_of(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> str:
    """``eventkit.store.catalog`` and ``eventkit.store`` -> ``store``; ``eventkit.cli`` -> ``top``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "top"


def imports_of(modules: dict[str, Path], module: str) -> list[tuple[str, str, str | None, int]]:
    """``(holding module, imported target, imported name or None, line)`` per package import."""
    path = modules[module]
    pkg = module.split(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        pairs: list[tuple[str, str | None]] = []
        if isinstance(node, ast.Import):
            pairs = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                target = ".".join(base[: len(base) - node.level + 1] + ([target] if target else []))
            pairs = [(f"{target}.{a.name}", None) if f"{target}.{a.name}" in modules else (target, a.name)
                     for a in node.names]
        for target, name in pairs:
            if target.split(".")[0] != pkg:
                continue
            holder = target
            while holder not in modules:
                holder = holder.rpartition(".")[0]
            out.append((holder, target, name, node.lineno))
    return out


def upward_imports(root: Path) -> list[str]:
    modules = modules_of(root)
    return [f"{m} ({layer_of(m)}) line {line} imports {target} ({layer_of(holder)})"
            for m in modules for holder, target, _, line in imports_of(modules, m)
            if LAYERS.index(layer_of(holder)) > LAYERS.index(layer_of(m))]


def private_imports(root: Path) -> list[str]:
    modules = modules_of(root)
    return [f"{m} line {line} imports {name} from {target}"
            for m, path in modules.items() if path.name != "__init__.py"
            for _, target, name, line in imports_of(modules, m) if name is not None and name.startswith("_")]


def import_circles(root: Path) -> list[list[str]]:
    modules = modules_of(root)
    # importing a module through its package runs that package's __init__, which re-exports its own
    # modules: not a dependency of design, so edges into an ancestor package are left out
    edges = {m: {h for h, _, _, _ in imports_of(modules, m) if h != m and not m.startswith(h + ".")}
             for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(component) > 1:
                circles.append(sorted(component))

    for m in sorted(edges):
        if m not in index:
            visit(m)
    return circles


def test_the_layers_are_folders() -> None:
    """Every subpackage is a known layer; a new folder must be given its place in LAYERS."""
    folders = {p.parent.name for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE}
    assert folders <= set(LAYERS), f"place these folders in LAYERS: {sorted(folders - set(LAYERS))}"


def test_imports_point_down() -> None:
    """No module imports from a layer above its own (fold, analysis never import samples or the report)."""
    assert upward_imports(PACKAGE) == []


def test_no_private_names_across_modules() -> None:
    """A name another module needs is public in its home module (``quote_ident``, not ``_quote``)."""
    assert private_imports(PACKAGE) == []


def test_no_import_circles() -> None:
    """Modules never import each other in a circle, directly or through others."""
    assert import_circles(PACKAGE) == []


def test_every_module_says_what_it_holds() -> None:
    """Each module opens with a docstring."""
    missing = [m for m, p in modules_of(PACKAGE).items() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def test_the_checks_find_each_kind_of_violation(tmp_path: Path) -> None:
    """On a small package built to break every rule, each check reports what is wrong."""
    root = tmp_path / "eventkit"
    for folder in ("", "store", "fold", "report"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").write_text('"""x"""\n')
    (root / "store" / "catalog.py").write_text("from eventkit.fold.series import grid\n")  # up a layer
    (root / "fold" / "series.py").write_text("from eventkit.fold.grid import _step\n\ndef grid():\n    pass\n")
    (root / "fold" / "grid.py").write_text("def f():\n    from .series import grid\n_step = 1\n")  # circle
    (root / "report" / "run.py").write_text("from eventkit.store import catalog\nfrom eventkit import cli\n")
    (root / "cli.py").write_text("from eventkit.report import run\n")
    assert upward_imports(root) == [
        "eventkit.report.run (report) line 2 imports eventkit.cli (top)",
        "eventkit.store.catalog (store) line 1 imports eventkit.fold.series (fold)",
    ]
    assert private_imports(root) == ["eventkit.fold.series line 1 imports _step from eventkit.fold.grid"]
    assert sorted(import_circles(root)) == [["eventkit.cli", "eventkit.report.run"],
                                            ["eventkit.fold.grid", "eventkit.fold.series"]]


def test_import_eventkit_does_not_load_the_upper_layers_heavy_parts() -> None:
    """``import eventkit`` loads no matplotlib (the charts load with the report, on first use)."""
    import subprocess
    import sys

    code = "import sys, eventkit; print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent, env={**__import__("os").environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert out.stdout.strip() == "[]"
