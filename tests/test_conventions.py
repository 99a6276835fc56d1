"""It behaves like the command-line tools its users already know: umask, config discovery, init."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from scorecard.cli import cli
from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore")],
    "work_items": [item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00")],
}


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
        for p in [folder, *folder.rglob("*")]
    }


@pytest.mark.parametrize(
    ("mask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_output_files_and_folders_follow_the_umask(
    umask, sqlite_url, tmp_path, mask, file_mode, folder_mode
):
    load(sqlite_url, ROWS)
    umask(mask)
    result = CliRunner().invoke(cli, ["run", "--database-url", sqlite_url, "--as-of", AS_OF,
                                      "--out", str(tmp_path / "out"), "--format", "html,csv,json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / AS_OF
    modes = _modes(run_dir)
    assert {"scores.csv", "manifest.json", "portfolio.html", "vendors"} <= set(modes)
    for name, mode in modes.items():
        expected = folder_mode if (run_dir / name).is_dir() else file_mode
        assert mode == expected, f"{name}: {oct(mode)} != {oct(expected)}"
