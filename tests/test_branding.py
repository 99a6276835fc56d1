"""A pack that carries the company's name, logo, colour, templates and locale ([reports])."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore")],
    "work_items": [
        item(f"a{i}", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
        for i in range(1234)
    ],
}
BUILT_IN = Path(__file__).resolve().parents[1] / "reports" / "templates"


def tiny_png() -> bytes:
    """A 2x2 dark-blue PNG, made here so the test needs no image file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x1f\x4e\x79" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.slow
def test_company_name_logo_colour_template_override_and_german_locale(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, ROWS)
    (tmp_path / "brand").mkdir()
    (tmp_path / "brand" / "logo.png").write_bytes(tiny_png())
    templates = tmp_path / "brand" / "templates"
    templates.mkdir()
    # Override one template (base.html) and keep the others built in.
    base = (BUILT_IN / "base.html").read_text()
    (templates / "base.html").write_text(
        base.replace(
            "{% block content %}{% endblock %}",
            "{% block content %}{% endblock %}\n<p>Nordwind house footer</p>",
        )
    )
    config = tmp_path / "brand" / "scorecard.toml"
    config.write_text(
        "[run]\nfiscal_year_start_month = 4\n"
        '[reports]\ncompany_name = "Nordwind Logistik GmbH"\nlogo = "logo.png"\naccent_colour = "#1F4E79"\n'
        'template_dir = "templates"\nlocale = "de_DE"\n'
    )
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "html,pdf", config=config)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / AS_OF
    pack = (run_dir / "portfolio.html").read_text()
    scorecard = (run_dir / "vendors" / "acme-offshore_a.html").read_text()
    for html in (pack, scorecard):
        assert "<span>Nordwind Logistik GmbH</span>" in html
        assert 'src="data:image/png;base64,' in html and 'alt="Nordwind Logistik GmbH logo"' in html
        assert "--accent: #1f4e79;" in html
        assert "Nordwind house footer" in html  # the override
        assert "Nordwind Logistik GmbH · confidential: internal use" in html
        # German: dates as 30.09.2026, thousands with a dot.
        assert "Data as of the end of 30.09.2026 (UTC)" in html
    assert "01.07.2026 to 30.09.2026" in pack
    assert (
        ">1.234<" in scorecard or "1.234 " in scorecard
    )  # 1,234 work items, written the German way
    assert "Vendor performance review" in pack  # portfolio.html itself is still the built-in one
    # A fiscal year from April: July to September 2026 is the second quarter of FY2027.
    assert 'Vendor performance review <span class="nowrap">FY2027-Q2</span>' in pack
    assert "Vendor scorecard FY2027-Q2: Acme Offshore" in scorecard
    facing = (run_dir / "vendor-facing" / "acme-offshore_a.html").read_text()
    assert "Prepared for Acme Offshore by Nordwind Logistik GmbH" in facing
    text = subprocess.run(["pdftotext", "-layout", str(run_dir / "portfolio.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "Nordwind Logistik GmbH" in text and "30.09.2026" in text
    from pypdf import PdfReader

    first_page = PdfReader(run_dir / "portfolio.pdf").pages[0]
    assert len(first_page.images) == 1  # the logo, embedded
    assert PdfReader(run_dir / "portfolio.pdf").metadata.author == "Nordwind Logistik GmbH"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'accent_colour = "#ffcc00"',
            "reports.accent_colour: #ffcc00 is too light for the white text on it (contrast 1.5:1, at least 4.5:1 is needed): choose a darker shade",
        ),
        (
            'accent_colour = "navy"',
            "reports.accent_colour: 'navy' is not a colour in the form #1f4e79",
        ),
        (
            'locale = "xx_YY"',
            "reports.locale: 'xx_YY' is not a locale Babel knows (e.g. de_DE, fr, en_GB)",
        ),
        ('logo = "logo.gif"', "reports.logo: 'logo.gif' is not a .png, .jpg or .svg file"),
        (
            'logo = "missing.png"',
            "reports.logo: cannot read {dir}/missing.png: No such file or directory",
        ),
        ('template_dir = "nowhere"', "reports.template_dir: {dir}/nowhere is not a folder"),
    ],
)
def test_a_bad_branding_key_stops_the_run_at_once_naming_it(tmp_path, scorecard_cli, toml, message):
    config = tmp_path / "scorecard.toml"
    config.write_text(f"[reports]\n{toml}\n")
    result = scorecard_cli("check", "--config", config, "--database-url", "sqlite://")
    assert result.exit_code == 2
    assert result.stderr == f"scorecard: error: {config}: {message.format(dir=tmp_path)}\n"
