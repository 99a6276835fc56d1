"""`pip install .` (not editable) gives a working scorecard with its templates and CSS;
the sdist carries its licence and tests, and those tests run from it; `make dist`'s
sdist and wheel carry the one version (with its changelog) and pass `twine check --strict`."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import scorecard

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration  # builds and installs the package in other processes


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
    wheel = next((tmp_path / "dist").glob("vendor_scorecard-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "scorecard/cli.py", "scorecard/api.py", "scorecard/example-config.toml",
        "scorecard/starter-config.toml",
        "scorecard/schema.py", "extract/source.py", "scoring/table.py",
        "reports/templates/portfolio.html", "reports/templates/vendor.html",
        "reports/static/report.css", "output/files.py",
    ):  # fmt: skip
        assert expected in names, expected
    # Exactly the five packages of the design, and nothing else at the top of site-packages.
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"scorecard", "extract", "scoring", "reports", "output"}
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
    code = "import scorecard.cli, reports.render as r; print(r.__file__); scorecard.cli.main()"
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


def test_the_sdist_is_named_for_pypi_carries_its_licence_and_its_tests_run(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    sdist = next(tmp_path.glob("vendor_scorecard-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = next(p for p in tmp_path.iterdir() if p.is_dir())
    metadata = (unpacked / "PKG-INFO").read_text()
    assert "Name: vendor-scorecard" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    assert "Apache License" in (unpacked / "LICENSE").read_text()
    # Run some of the sdist's own tests against the sdist's own code (not this checkout's);
    # test_docs builds the sdist's docs/ with its mkdocs.yml, so both must be in it.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_metrics.py", "tests/test_validation.py", "tests/test_docs.py"],
        cwd=unpacked, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(unpacked)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
    probe = subprocess.run(
        [sys.executable, "-c", "import scoring.metrics as m; print(m.__file__)"],
        cwd=unpacked, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(unpacked)},
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(unpacked))


def test_the_version_is_written_once_and_the_checked_sdist_and_wheel_carry_it(tmp_path):
    # pyproject.toml reads the version from scorecard/__init__.py: no second copy to forget.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    # `python -m build` as `make dist` runs it: the sdist, then the wheel built from the sdist.
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    sdist = next(tmp_path.glob("vendor_scorecard-*.tar.gz"))
    wheel = next(tmp_path.glob("vendor_scorecard-*.whl"))
    assert sdist.name == f"vendor_scorecard-{scorecard.__version__}.tar.gz"
    assert wheel.name == f"vendor_scorecard-{scorecard.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        dist_info = f"vendor_scorecard-{scorecard.__version__}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    assert f"\nVersion: {scorecard.__version__}\n" in metadata
    # The sdist carries the changelog, and the changelog has a section for this version.
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"vendor_scorecard-{scorecard.__version__}/CHANGELOG.md")
        assert member is not None
        changelog = member.read().decode()
    assert f"\n## [{scorecard.__version__}]" in changelog
    # What PyPI would refuse or render badly (the README as the long description) fails here.
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2, check.stdout
