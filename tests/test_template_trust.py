"""A company's templates and logo cannot run commands, crash in a traceback, or eat the memory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.builders import item, load, vendor

AS_OF = "2026-09-30"


def _world(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    load(
        url,
        {
            "vendors": [vendor("A")],
            "work_items": [
                item(f"a{i}", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 12:00")
                for i in range(5)
            ],
        },
    )
    return url


def _config(tmp_path: Path, reports: str) -> Path:
    config = tmp_path / "scorecard.toml"
    config.write_text(f"[reports]\n{reports}\n")
    return config


def test_a_template_cannot_run_a_shell_command(tmp_path, scorecard_cli):
    url = _world(tmp_path)
    marker = tmp_path / "ran"
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "vendor.html").write_text(
        '{% extends "base.html" %}{% block content %}\n'
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}\n"
        "{% endblock %}\n"
    )
    config = _config(tmp_path, 'template_dir = "templates"')
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "html", config=config)
    assert not marker.exists()
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        f"scorecard: error: template {folder / 'vendor.html'}, line 2: "
        "access to attribute '__init__' of 'type' object is unsafe."
    )


def test_a_template_syntax_error_is_one_line_naming_file_and_line(tmp_path, scorecard_cli):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "base.html").write_text("<html>\n<body>\n{% if ctx.title %}\n</body>\n")
    config = _config(tmp_path, 'template_dir = "templates"')
    result = scorecard_cli("check", "--config", config, "--database-url", "sqlite://")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"scorecard: error: {config}: reports.template_dir: {folder / 'base.html'}, line 3: "
        "Unexpected end of template. Jinja was looking for the following tags: 'elif' or "
        "'else' or 'endif'. The innermost block that needs to be closed is 'if'.\n"
    )


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_logo_of_too_many_pixels_is_refused_however_few_its_bytes(tmp_path, scorecard_cli):
    png = _png(12_000, 12_000)
    assert len(png) < 512 * 1024  # small in bytes: the old limit let it through
    (tmp_path / "logo.png").write_bytes(png)
    config = _config(tmp_path, 'logo = "logo.png"')
    result = scorecard_cli("check", "--config", config, "--database-url", "sqlite://")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"scorecard: error: {config}: reports.logo: {tmp_path / 'logo.png'} is 12,000 x 12,000 "
        "pixels; use a logo of at most 4 megapixels, e.g. 1,200 x 400 (every render decodes "
        "it whole)\n"
    )


@pytest.mark.parametrize("size", [(1200, 400), (2000, 2000)])
def test_a_logo_of_ordinary_size_passes(size, tmp_path, scorecard_cli):
    (tmp_path / "logo.png").write_bytes(_png(*size))
    config = _config(tmp_path, 'logo = "logo.png"')
    result = scorecard_cli("check", "--config", config, "--database-url", "sqlite://")
    assert "reports.logo" not in result.stderr
