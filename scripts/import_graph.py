"""The import graph of scorecard's code, read from the source with `ast` (nothing is imported).

    python scripts/import_graph.py [ROOT]        # edges between layers, then any violation
    python scripts/import_graph.py --modules     # every module's imports of the project

Layers, in the order data flows: `scorecard` modules every stage reads (config, errors,
schema, urls, log), then extract -> scoring -> reports -> output, then the API and the
command (scorecard.api, scorecard.cli and the commands' helpers). A module may import its
own layer and earlier ones. Imports under `if TYPE_CHECKING:` are not imports at run time
and are left out. The checkout of an earlier layout (the stages inside `scorecard/` through
symlinks) is read too: `scorecard.extract.x` counts as `extract.x`.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

STAGES = ("extract", "scoring", "reports", "output")
# What every stage may read: the contract's vocabulary, not a stage of its own.
BASE = {"scorecard", "scorecard.config", "scorecard.errors", "scorecard.schema",
        "scorecard.urls", "scorecard.log"}  # fmt: skip
LAYERS = ("base", *STAGES, "api")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return _canonical(".".join(parts))


def _canonical(name: str) -> str:
    for stage in STAGES:
        if name == f"scorecard.{stage}" or name.startswith(f"scorecard.{stage}."):
            return name.removeprefix("scorecard.")
    return name


def layer_of(module: str) -> str:
    top = module.split(".")[0]
    if top in STAGES:
        return top
    return "base" if module in BASE else "api"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                stem = f"{base}.{node.module}" if node.module else base
            else:
                stem = node.module or ""
            found.extend(f"{stem}.{alias.name}" for alias in node.names)
            found.append(stem)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def project_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for top in ("scorecard", *STAGES):
        folder = root / top
        if folder.is_dir():
            for path in sorted(folder.rglob("*.py")):
                modules[module_name(path, root)] = path
    return modules


def graph(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports (at run time, lazily or not)."""
    modules = project_modules(root)
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for imported in _imports(ast.parse(path.read_text("utf-8")), package):
            imported = _canonical(imported)
            # `from a.b import c` names a.b.c: a module if there is one, else a name in a.b.
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


# The one upward edge by design: scorecard/__init__.py hands out the API on first use
# (PEP 562 __getattr__), so that importing scorecard.config loads no stage.
ALLOWED = {("scorecard", "scorecard.api")}


def violations(edges: dict[str, set[str]]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if (source, target) in ALLOWED:
                continue
            if rank[layer_of(target)] > rank[layer_of(source)]:
                found.append(f"{source} ({layer_of(source)}) imports {target} ({layer_of(target)})")
    return found


def main(argv: list[str]) -> int:
    flags = [a for a in argv if a.startswith("--")]
    paths = [a for a in argv if not a.startswith("--")]
    root = Path(paths[0] if paths else Path(__file__).resolve().parents[1])
    edges = graph(root)
    if "--modules" in flags:
        for source, targets in sorted(edges.items()):
            print(f"{source} -> {', '.join(sorted(targets)) or '(nothing)'}")
        print()
    between: dict[tuple[str, str], int] = defaultdict(int)
    for source, targets in edges.items():
        for target in targets:
            if layer_of(source) != layer_of(target):
                between[layer_of(source), layer_of(target)] += 1
    print(f"{len(edges)} modules; imports between layers ({' -> '.join(LAYERS)}):")
    for (source, target), count in sorted(
        between.items(), key=lambda e: (LAYERS.index(e[0][0]), LAYERS.index(e[0][1]))
    ):
        by_design = (
            " (scorecard/__init__.py's lazy hand-out of the API)"
            if target == "api" and source == "base"
            else ""
        )
        print(f"  {source:>8} -> {target:<8} {count}{by_design}")
    wrong = violations(edges)
    print(f"{len(wrong)} imports point backwards" + (":" if wrong else ""))
    for line in wrong:
        print(f"  {line}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
