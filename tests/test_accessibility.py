"""Every HTML output passes axe-core with no serious or critical violation, in real headless
Chromium, at a desktop and a phone width (WCAG 2.x rules as axe-core implements them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(os.environ.get("SCORECARD_TEST_TOOLS", ROOT / ".tools"))
SCRIPT = Path(__file__).resolve().parent / "browser" / "axe_check.cjs"


def browser_or_skip() -> str:
    """The Chromium to drive; skips (fails under CI=true) when it or the npm tools are missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [
        what
        for what, ok in (
            ("chromium", chromium),
            ("node", shutil.which("node")),
            ("axe-core and playwright-core", (TOOLS / "node_modules" / "axe-core").is_dir()
             and (TOOLS / "node_modules" / "playwright-core").is_dir()),
        )
        if not ok
    ]  # fmt: skip
    if missing:
        message = f"the accessibility test needs {', '.join(missing)} (make test installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert chromium is not None
    return chromium


def axe_violations(chromium: str, pages: list[Path]) -> list[dict]:
    result = subprocess.run(
        ["node", str(SCRIPT), str(TOOLS), chromium, *map(str, pages)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory, scorecard_cli) -> Path:
    """The demo world, small: every kind of page the job writes (pack, scorecards, vendor-facing)."""
    base = tmp_path_factory.mktemp("a11y")
    url = f"sqlite:///{base / 'demo.db'}"
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.05",
                         "--through", "2026-09-30")  # fmt: skip
    assert made.exit_code == 0, made.output
    ran = scorecard_cli.run(url, base / "out", "--format", "html", as_of="2026-09-30")
    assert ran.exit_code in (0, 1), ran.output
    return base / "out" / "2026-09-30"


@pytest.mark.slow
def test_every_html_output_has_no_serious_or_critical_axe_violation(demo_html):
    chromium = browser_or_skip()
    pages = sorted(demo_html.rglob("*.html"))
    kinds = {p.parent.name for p in pages}
    assert {"vendors", "vendor-facing", "2026-09-30"} <= kinds, kinds
    violations = axe_violations(chromium, pages)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(serious[:10], indent=1)


@pytest.mark.integration  # Chromium
def test_the_checker_finds_a_violation_when_there_is_one(tmp_path):
    """The test above can fail: a page with an image without alt text and grey-on-grey text."""
    chromium = browser_or_skip()
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>bad</title></head>'
        '<body><main><p style="color:#bbb;background:#fff">faint text</p>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>'
    )
    found = {v["id"]: v["impact"] for v in axe_violations(chromium, [page])}
    assert found.get("color-contrast") == "serious"
    assert found.get("image-alt") == "critical"


def _chart_text(data_uri: str) -> str:
    import base64

    return base64.b64decode(data_uri.split(",", 1)[1]).decode("utf-8")


def test_a_vendors_trend_chart_names_its_axis_for_what_it_plots():
    from reports.charts import dimension_trend, score_trend

    labels = ["2026-Q2", "2026-Q3"]
    vendor = _chart_text(dimension_trend(labels, {"Composite": [70, 72], "Accuracy": [90, 95]}))
    assert "Score (0–100)" in vendor and "Composite score" not in vendor
    portfolio = _chart_text(score_trend(labels, {"Acme": [70, 72]}))
    assert "Composite score" in portfolio


OVERFLOW_SCRIPT = Path(__file__).resolve().parent / "browser" / "overflow_check.cjs"


@pytest.mark.slow
def test_no_page_scrolls_sideways_and_no_standing_badge_is_clipped(demo_html):
    """At 1280 and 390 px: the document is no wider than the window (a wide table scrolls
    inside its own box), and every standing badge fits its box and its cell."""
    chromium = browser_or_skip()
    pages = sorted(demo_html.rglob("*.html"))
    result = subprocess.run(
        ["node", str(OVERFLOW_SCRIPT), str(TOOLS), chromium, *map(str, pages)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout)
    assert len(measured) == 2 * len(pages)
    wide = [(Path(m["file"]).name, m["width"], m["scrollWidth"]) for m in measured
            if m["scrollWidth"] > m["width"]]  # fmt: skip
    assert wide == []
    clipped = [(Path(m["file"]).name, m["width"], m["clipped"][:3]) for m in measured
               if m["clipped"]]  # fmt: skip
    assert clipped == []
