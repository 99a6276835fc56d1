"""The code's shape: data flows one way (extract -> scoring -> reports -> output), behind the
API, and the tree is real (no symlinks), as the design card and issue 21 fix it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_graph():
    spec = importlib.util.spec_from_file_location(
        "import_graph", ROOT / "scripts" / "import_graph.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_imports_a_later_layer():
    graph = _import_graph()
    edges = graph.graph(ROOT)
    assert graph.violations(edges) == []
    # The graph is read, not assumed: the stages are there and import each other as they flow.
    assert "extract.activity" in edges["scoring.table"]
    assert "scorecard.config" in edges["extract.activity"]


def test_the_layer_check_catches_an_import_that_points_backwards(tmp_path):
    """A check that cannot fail proves nothing: config importing a stage is reported."""
    for package in ("scorecard", "extract"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "extract" / "schema.py").write_text("TABLES = {}\n")
    (tmp_path / "scorecard" / "config.py").write_text(
        "def tables():\n    from extract.schema import TABLES\n    return TABLES\n"
    )
    graph = _import_graph()
    assert graph.violations(graph.graph(tmp_path)) == [
        "scorecard.config (base) imports extract.schema (extract)"
    ]
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_graph.py"), str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert printed.returncode == 1 and "1 imports point backwards" in printed.stdout


def test_config_reads_no_stage():
    edges = _import_graph().graph(ROOT)
    for base in ("scorecard.config", "scorecard.errors", "scorecard.schema", "scorecard.urls"):
        assert not {e for e in edges[base] if not e.startswith("scorecard")}, base


def test_the_tree_has_no_symlinks():
    """A checkout on a file system without symlinks must work, and tools must see one tree."""
    tracked = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if tracked.returncode != 0:  # an unpacked sdist has no git: look at the files themselves
        links = [p for p in ROOT.rglob("*") if p.is_symlink() and ".venv" not in p.parts]
    else:
        links = [
            line.split("\t")[1] for line in tracked.stdout.splitlines() if line.startswith("120000")
        ]
    assert links == []


def test_the_pipeline_is_one_short_function_and_pipeline_py_is_gone():
    import ast
    import inspect

    from scorecard import api

    assert not (ROOT / "scorecard" / "pipeline.py").exists()
    tree = ast.parse(inspect.getsource(api.run))
    body = tree.body[0].body  # type: ignore[attr-defined]
    statements = body[1:] if isinstance(body[0], ast.Expr) else body  # after the docstring
    lines = sum(s.end_lineno - s.lineno + 1 for s in statements)  # type: ignore[operator]
    assert lines <= 50, f"scorecard.run is {lines} lines"


def test_the_public_api_is_what_the_package_offers():
    import scorecard

    assert callable(scorecard.run) and callable(scorecard.check)
    assert callable(scorecard.load_config) and callable(scorecard.score)
    assert scorecard.RunResult.__name__ == "RunResult"
