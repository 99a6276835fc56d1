"""Rendered reports: real PDFs, escaped names, a renderer that fetches nothing."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.render import restricted_fetcher
from reports.view import slugify, vendor_slug, vendor_slugs
from tests.builders import charge, item, load, request, vendor

AS_OF = "2026-09-30"
EVIL = "<script>alert(1)</script> & Co"
ROWS = {
    "vendors": [
        vendor("A", name="Acme Offshore"), vendor("E", "nearshore", name=EVIL),
        vendor("H", "in_house", name="Support In-house"),
    ],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", units=10, qa=10, defects=1),
        item("a0", "A", "2026-04-01 00:00", "2026-04-02 00:00", "2026-04-03 12:00", units=10, qa=10),
        item("e1", "E", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", units=10, qa=10),
        item("h1", "H", "2026-07-05 00:00", "2026-07-06 00:00", "2026-07-05 12:00", units=4, qa=4),
    ],
    "requests": [request("r1", "A", "urgent", "2026-07-01 00:00", "2026-07-01 00:30")],
    "charges": [
        charge("c1", "A", "2026-07-01", "2026-07-31", 50.0), charge("c2", "E", "2026-07-01", "2026-07-31", 90.0),
        charge("h1", "H", "2026-07-01", "2026-07-31", 80.0),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, scorecard_cli) -> Path:
    base = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{base / 'src.db'}"
    load(url, ROWS)
    result = scorecard_cli.run(url, base / "out")
    assert result.exit_code == 0, result.output
    return base / "out" / AS_OF


@pytest.mark.parametrize("name", ["portfolio.html", "vendors/acme-offshore_a.html"])
def test_weasyprint_finds_nothing_to_warn_of_in_our_documents(run_dir, caplog, name):
    """Its warnings would reach every night's log: the browser-only CSS is left out of the PDF."""
    from reports.render import Renderer
    from scorecard.config import config_from_mapping

    html = (run_dir / name).read_text()
    assert "max-width: 700px" in html  # kept for browsers
    renderer = Renderer(config_from_mapping({}, "defaults").scoring.standings)
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        assert renderer.pdf(html).startswith(b"%PDF-")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")] == []


def pdf_text(path: Path) -> tuple[int, str]:
    reader = PdfReader(path)
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_portfolio_pdf_is_a_real_pdf_naming_every_vendor(run_dir):
    data = (run_dir / "portfolio.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages, text = pdf_text(run_dir / "portfolio.pdf")
    assert pages >= 5
    for name in ("Acme Offshore", EVIL, "Support In-house", "Executive summary", "Methods"):
        assert name in text
    metadata = PdfReader(run_dir / "portfolio.pdf").metadata
    assert metadata.title == "Vendor performance review 2026-Q3"
    assert metadata.creation_date.isoformat().startswith("2026-09-30T23:59:59")


def test_each_vendor_pdf_names_its_vendor_and_shows_its_composite_from_scores_csv(run_dir):
    with (run_dir / "scores.csv").open() as handle:
        rows = [
            r for r in csv.DictReader(handle) if r["process"] == "ALL" and r["period"] == "2026-Q3"
        ]
    for row in rows:
        slug = vendor_slug(row["vendor_id"], row["vendor_name"])
        pages, text = pdf_text(run_dir / "vendors" / f"{slug}.pdf")
        assert pages >= 1
        assert row["vendor_name"] in text
        if row["sourcing"] != "in_house" and int(row["work_items_completed"] or 0) < 30:
            # Too few items to claim this period (contract section 11): it says so instead.
            assert "too little activity so far" in text, text[:400]
            continue
        shown = f"{float(row['composite_score']):.0f}"
        assert re.search(rf"(^|\s){shown}\s*/ 100", text), (shown, text[:400])


def test_names_are_escaped_in_html(run_dir):
    html = (run_dir / "portfolio.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    vendor_html = (run_dir / "vendors" / f"{vendor_slug('E', EVIL)}.html").read_text()
    assert "<script>" not in vendor_html and "&lt;script&gt;" in vendor_html


def test_html_is_standalone_with_inline_styles_and_charts(run_dir):
    html = (run_dir / "portfolio.html").read_text()
    assert '<meta name="viewport"' in html
    style = html.split("</style>")[0]
    assert ".badge" in style and "&#34;" not in style and "@page" not in style
    assert 'src="data:image/svg+xml;base64,' in html
    assert "http://" not in html and "file://" not in html


@pytest.mark.parametrize(
    "url", ["file:///etc/hostname", "http://127.0.0.1:9/style.css", "https://example.com/x.png"]
)
def test_the_renderer_fetches_no_file_and_no_network_url(url):
    with pytest.raises(ValueError, match="disallowed protocol"):
        restricted_fetcher().fetch(url)


def test_the_renderer_still_resolves_data_uris():
    response = restricted_fetcher().fetch("data:text/plain;base64,aGk=")
    body = response.read() if hasattr(response, "read") else response["string"]
    assert body == b"hi"


def test_vendor_slugs_are_readable_ascii_and_never_collide():
    assert slugify("Wisła Payroll Services sp. z o.o.") == "wisla-payroll-services-sp-z-o-o"
    assert vendor_slugs([("V1", "Acme"), ("V2", "ACME"), ("V3", "Zeta")]) == {
        "V1": "acme_v1", "V2": "acme_v2", "V3": "zeta_v3",
    }  # fmt: skip
    assert vendor_slugs([("X-1", "***")]) == {"X-1": "vendor_x-1"}


def test_pdf_bytes_are_identical_on_a_rerun(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    load(url, ROWS)
    outputs = []
    for name in ("one", "two"):
        result = scorecard_cli.run(url, tmp_path / name, "--format", "pdf")
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / name / AS_OF / "portfolio.pdf").read_bytes())
    assert outputs[0] == outputs[1]
    assert io.BytesIO(outputs[0]).read(5) == b"%PDF-"


VNU_JAR = Path(
    os.environ.get(
        "SCORECARD_VNU_JAR",
        Path(__file__).resolve().parents[1] / ".tools/node_modules/vnu-jar/build/dist/vnu.jar",
    )
)


def test_every_html_output_passes_the_nu_html_checker(run_dir):
    missing = [
        what
        for what, ok in (("java", shutil.which("java")), (str(VNU_JAR), VNU_JAR.exists()))
        if not ok
    ]
    if missing:
        message = f"the Nu HTML checker needs {' and '.join(missing)} (make test installs vnu-jar with npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    pages = sorted(str(p) for p in run_dir.rglob("*.html"))
    assert len(pages) >= 4
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "text", *pages],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


GOLD = Path(__file__).resolve().parent / "gold"
GOLD_FILES = [
    "portfolio.html",
    "vendors/acme-offshore_a.html",
    "vendor-facing/acme-offshore_a.html",
]


def scrub(html: str) -> str:
    """Remove what changes without the report changing: version, stylesheet, chart bytes."""
    html = re.sub(r"scorecard \d+\.\d+\.\d+", "scorecard VERSION", html)
    html = re.sub(
        r"<style>.*?</style>", "<style>(reports/static/report.css)</style>", html, flags=re.S
    )
    return re.sub(
        r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+", "data:image/svg+xml;base64,(chart)", html
    )


@pytest.mark.parametrize("name", GOLD_FILES)
def test_html_matches_its_gold_file(run_dir, name):
    """Update after a deliberate change with `make gold`, then review the diff in git."""
    actual = scrub((run_dir / name).read_text())
    gold = GOLD / name
    if os.environ.get("SCORECARD_UPDATE_GOLD") == "1":
        gold.parent.mkdir(parents=True, exist_ok=True)
        gold.write_text(actual)
    assert gold.exists(), f"no gold file {gold}: run `make gold`"
    assert actual == gold.read_text(), (
        f"{name} differs from {gold}: if the change is meant, run `make gold`"
    )


def test_pdfs_are_pdf_a_3u_with_bookmarks_and_embedded_fonts(run_dir):
    reader = PdfReader(run_dir / "portfolio.pdf")
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="U"' in xmp
    assert "/OutputIntents" in root

    def flatten(items):
        for entry in items:
            yield from flatten(entry) if isinstance(entry, list) else [entry.title]

    titles = list(flatten(reader.outline))
    assert {
        "Ranking",
        "Special causes in quality and timeliness",
        "Data quality",
        "Methods",
    } <= set(titles)
    fonts = {
        font.get_object()["/BaseFont"]: font.get_object()
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all("/DescendantFonts" in f or "/FontDescriptor" in f for f in fonts.values())


def test_one_process_and_several_render_identical_files(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    load(url, ROWS)
    outputs = {}
    for workers in (1, 2):
        config = tmp_path / f"w{workers}.toml"
        config.write_text(f"[reports]\nworkers = {workers}\n")
        out = tmp_path / f"out{workers}"
        result = scorecard_cli.run(url, out, "--format", "pdf,html", config=config)
        assert result.exit_code == 0, result.output
        assert f"with {workers} {'process' if workers == 1 else 'processes'}" in result.stderr
        # Each process's peak, for bench/run.py: the pack and the scorecards in their own with two.
        peaks = re.search(r"peak RSS: main process \d+ MiB(.*)", result.stderr)
        assert peaks is not None
        others = ", portfolio process \\d+ MiB, largest scorecard worker \\d+ MiB"
        assert re.fullmatch(others if workers == 2 else "", peaks.group(1).strip())
        run = tmp_path / f"out{workers}" / AS_OF
        outputs[workers] = {
            p.relative_to(run).as_posix(): p.read_bytes()
            for p in run.rglob("*.*")
            if p.name != "manifest.json"
        }
    # data_quality.csv, the pack, and 5 scorecards (3 internal, 2 vendor-facing), each as PDF and HTML
    assert outputs[1] == outputs[2] and len(outputs[1]) == 13


def _pdf_with(html_class: type, html: str) -> bytes:
    """The PDF of `html` as Renderer.pdf makes it, through the given weasyprint.HTML class."""
    from reports.render import Renderer
    from scorecard.config import read_config as load_config

    renderer = Renderer(load_config(None).scoring.standings)
    document = html_class(string=html, url_fetcher=restricted_fetcher()).render(
        stylesheets=[renderer.print_css], font_config=renderer.fonts, pdf_variant="pdf/a-3u"
    )
    return document.write_pdf(pdf_variant="pdf/a-3u")


def test_leaving_out_the_note_styles_changes_no_byte_of_our_pdfs(run_dir):
    from weasyprint import HTML

    from reports.render import _html_class, html_document

    lean = _html_class()
    # In force with the WeasyPrint installed: else a pack takes half as much again to lay out.
    assert lean is not HTML and issubclass(lean, HTML)
    for name in ("portfolio.html", "vendors/acme-offshore_a.html"):
        html = (run_dir / name).read_text("utf-8")
        assert type(html_document(html)) is lean
        assert _pdf_with(lean, html) == _pdf_with(HTML, html)


@pytest.mark.parametrize(
    "css",
    [
        "aside { float: footnote }",
        "aside { position: note(margin) }",
        "@import url(data:text/css,x);",
    ],
)
def test_a_template_with_footnotes_keeps_weasyprints_whole_stylesheet(css):
    from weasyprint import HTML

    from reports.render import html_document

    html = (
        f"<html><head><style>{css}</style></head><body><p>Text<aside>note</aside></p></body></html>"
    )
    assert type(html_document(html)) is HTML


class _SleepsWhenUnpickled:
    """Blocks the process that unpickles it for a minute, deaf to SIGALRM."""

    def __reduce__(self):
        return (_deaf_sleep, (60,))


def _deaf_sleep(seconds: float) -> None:
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)


class _ExitsWhenUnpickled:
    """Ends the process that unpickles it at once, as the kernel's OOM killer would."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_an_error_in_the_portfolio_process_reaches_the_run():
    import multiprocessing

    from reports.build import PortfolioProcess

    server = multiprocessing.get_context("forkserver")
    # No inputs: _start_worker fails there, and the parent leaves the pack out, saying why.
    pack = PortfolioProcess(server, 60, (None, ("pdf",), {}, 0, {}))
    rendered = pack.result(("portfolio.pdf",))
    pack.stop()
    assert rendered.failed is not None and rendered.files == {}
    assert rendered.failed.vendor_id is None and rendered.failed.paths == ("portfolio.pdf",)
    assert "rendering it failed: 'NoneType' object has no attribute" in rendered.failed.why


def test_a_portfolio_process_that_dies_leaves_the_pack_out_instead_of_hanging_the_run():
    import multiprocessing

    from reports.build import PortfolioProcess

    server = multiprocessing.get_context("forkserver")
    pack = PortfolioProcess(server, 60, (_ExitsWhenUnpickled(),))
    rendered = pack.result(("portfolio.pdf",))
    pack.stop()
    assert rendered.failed is not None
    assert "ended without it (exit code 3" in rendered.failed.why


def test_a_portfolio_process_stuck_past_its_limit_is_stopped(monkeypatch):
    """A render stuck where its own alarm cannot reach it (C code): the parent gives up a
    little after the limit, ends the process and leaves the pack out."""
    import multiprocessing

    import reports.build
    from reports.build import PortfolioProcess

    monkeypatch.setattr(reports.build, "BACKSTOP_SECONDS", 0.5)
    server = multiprocessing.get_context("forkserver")
    # A worker argument that sleeps when unpickled, with SIGALRM blocked, stands for C code.
    pack = PortfolioProcess(server, 0.5, (_SleepsWhenUnpickled(),))
    started = time.monotonic()
    rendered = pack.result(("portfolio.pdf",))
    assert time.monotonic() - started < 10
    assert not pack._process.is_alive()
    assert rendered.failed is not None and "longer than its limit of 0.5 s" in rendered.failed.why
