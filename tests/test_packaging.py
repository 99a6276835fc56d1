"""`pip install .` (not editable) gives a working scorecard with its templates and CSS."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_every_stage_and_asset_and_runs_from_outside_the_repo(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("scorecard-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "scorecard/cli.py", "scorecard/example-config.toml", "scorecard/extract/source.py",
        "scorecard/scoring/table.py", "scorecard/reports/templates/portfolio.html",
        "scorecard/reports/templates/vendor.html", "scorecard/reports/static/report.css",
        "scorecard/output/files.py",
    ):  # fmt: skip
        assert expected in names, expected
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    # The installed copy comes first on the path, and we run from outside the checkout.
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import scorecard.cli, scorecard.reports.render as r; print(r.__file__); scorecard.cli.main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "demo", "--dir", str(tmp_path / "demo"), "--format", "html,csv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(target))
    run_dirs = [
        p for p in (tmp_path / "demo" / "out").iterdir() if p.is_dir() and not p.is_symlink()
    ]
    assert len(run_dirs) == 1
    assert (run_dirs[0] / "portfolio.html").read_text().count("<tr") > 20
