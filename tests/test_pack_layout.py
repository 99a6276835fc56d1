"""A pack of 100 vendors with 80-character names: every word inside its page, no heading left alone.

Where each word of the PDF landed comes from `pdftotext -bbox` (poppler-utils,
installed by scripts/system-deps.sh). The world is the demo's, cloned to 100
outsourced vendors by `demo-data --vendors`, then renamed to long names.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from reports.build import (
    ReportInputs,
    build_portfolio,
    control_charts_by_vendor,
    report_slugs,
)
from reports.render import Renderer
from reports.vendor import build_vendor
from reports.view import context_for
from scorecard.config import read_config as load_config
from scorecard.demo_data import generate_demo_data
from scoring.catalogue import catalogue
from scoring.periods import periods_for, window_of
from scoring.table import score_table

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 9, 30)
MM = 72 / 25.4
# Nothing may come nearer the paper's edge than this (the page margins are 14 mm and more).
EDGE = 5 * MM
# A name of one unbreakable 34-character word: it must wrap inside its cell too.
UNBREAKABLE = "Supercalifragilisticexpialidocious"


def long_name(index: int) -> str:
    base = f"Vendor {index:03d} International Business Process Outsourcing and Shared Services"
    if index % 10 == 3:
        base = f"Vendor {index:03d} {UNBREAKABLE} Global Delivery Centres Holding Group"
    return (base + " Ltd" * 20)[:80]


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is missing: run `make install`")
    base = tmp_path_factory.mktemp("pack")
    url = f"sqlite:///{base / 'world.db'}"
    engine = create_engine(url)
    generate_demo_data(engine, AS_OF, scale=0.03, vendors=100)
    with engine.begin() as connection:
        ids = connection.execute(
            text("SELECT vendor_id FROM vendors WHERE sourcing <> 'in_house' ORDER BY vendor_id")
        ).scalars()
        for index, vendor_id in enumerate(list(ids)):
            connection.execute(
                text("UPDATE vendors SET name = :name WHERE vendor_id = :id"),
                {"name": long_name(index), "id": vendor_id},
            )
    from extract.activity import extract_activity

    config = load_config(ROOT / "scorecard" / "example-config.toml")
    periods = periods_for(AS_OF, "quarter", config.run.history_periods)
    data = extract_activity(
        engine,
        window_of(periods),
        config.currency,
        config.response_targets_hours.hours(),
        config.source,  # type: ignore[arg-type]
        kpis=config.kpis,  # the declared KPIs' page lists every contact centre too
    )
    engine.dispose()
    table = score_table(data, periods, config)
    inputs = ReportInputs(table, data, periods, config, AS_OF)
    renderer = Renderer(config.scoring.standings)
    slugs = report_slugs(table)
    charts = control_charts_by_vendor(data, catalogue(config))
    files = {}
    title = f"Vendor performance review {periods[-1].label}"
    page = renderer.html(
        "portfolio.html",
        ctx=context_for(config, periods, AS_OF, title),
        **build_portfolio(inputs, slugs, charts),
    )
    files["portfolio"] = page
    # One scorecard with an unbreakable long name, in both variants.
    vendor_id = next(v for v, s in sorted(slugs.items()) if UNBREAKABLE.lower() in s)
    for internal in (True, False):
        model = build_vendor(inputs, vendor_id, 100, internal, charts.get(vendor_id, []))
        context = context_for(
            config, periods, AS_OF, f"Vendor scorecard: {model['vendor']['name']}"
        )
        files[f"vendor-{internal}"] = renderer.html("vendor.html", ctx=context, **model)
    paths = {}
    for name, document in files.items():
        (base / f"{name}.html").write_text(document, "utf-8")
        (base / f"{name}.pdf").write_bytes(renderer.pdf(document))
        paths[name] = base / f"{name}.pdf"
    return paths


def pages(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    """Per page: width, height and each word's box (xMin, yMin, xMax, yMax, text)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True)
    xhtml = re.sub(rb"<!DOCTYPE[^>]*>", b"", out.stdout)
    root = ET.fromstring(xhtml)
    found = []
    for page in root.iter("{http://www.w3.org/1999/xhtml}page"):
        words = [
            (
                float(w.get("xMin", 0)),
                float(w.get("yMin", 0)),
                float(w.get("xMax", 0)),
                float(w.get("yMax", 0)),
                w.text or "",
            )
            for w in page.iter("{http://www.w3.org/1999/xhtml}word")
        ]
        found.append((float(page.get("width", 0)), float(page.get("height", 0)), words))
    return found


def headings(document: str) -> set[str]:
    """Each heading's text, and the note that introduces what follows a heading: neither may
    be the last thing on a page."""
    texts = re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", document, flags=re.S)
    texts += re.findall(r"</h[1-3]>\s*<p class=\"note\">(.*?)</p>", document, flags=re.S)
    return {" ".join(html.unescape(re.sub(r"<[^>]+>", " ", t)).split()) for t in texts}


@pytest.mark.parametrize("name", ["portfolio", "vendor-True", "vendor-False"])
def test_every_word_of_every_page_stays_inside_the_page(pack, name):
    found = pages(pack[name])
    assert found and all(words for _, _, words in found)
    for number, (width, height, words) in enumerate(found, start=1):
        for x0, y0, x1, y1, word in words:
            assert x0 >= EDGE and x1 <= width - EDGE, (name, number, word, x0, x1, width)
            assert y0 >= EDGE and y1 <= height - EDGE, (name, number, word, y0, y1, height)


@pytest.mark.parametrize("name", ["portfolio", "vendor-True", "vendor-False"])
def test_no_heading_ends_a_page(pack, name):
    titles = headings(pack[name].with_suffix(".html").read_text("utf-8"))
    for number, (_, height, words) in enumerate(pages(pack[name]), start=1):
        # The body's last line: the words lowest on the page above the footer (16 mm margin).
        body = [w for w in words if w[3] < height - 16 * MM]
        last_y = max(w[1] for w in body)
        last_line = " ".join(
            w[4] for w in sorted(body, key=lambda w: w[0]) if abs(w[1] - last_y) < 2
        )
        assert not any(last_line and (last_line == t or t.endswith(last_line)) for t in titles), (
            name,
            number,
            last_line,
        )


def test_the_pack_names_every_vendor_in_full_and_ranks_only_the_rankable(pack):
    portfolio = pack["portfolio"].with_suffix(".html").read_text("utf-8")
    for index in (0, 3, 99):
        assert html.escape(long_name(index)) in portfolio
    # One legend entry per vendor would be 100 lines: the trend is a sparkline per row instead.
    assert portfolio.count('<td class="spark">') >= 100
