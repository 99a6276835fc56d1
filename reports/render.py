"""One jinja Environment and one WeasyPrint setup for every document of a run."""

from __future__ import annotations

import functools
import re
import time
import traceback
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from scorecard import __version__
from scorecard.config import Standings
from scorecard.errors import TemplateFailure


def _environment(standings: Standings, template_folder: Path | None = None) -> Environment:
    # One loader chain: the company's own templates first (reports.template_dir), then ours,
    # so a company overrides one template (say base.html) and keeps the rest.
    loaders: list[BaseLoader] = [PackageLoader("reports", "templates")]
    if template_folder is not None:
        loaders.insert(0, FileSystemLoader(template_folder))
    # Sandboxed: a company's template (reports.template_dir) reaches no Python internals, so
    # it cannot run a shell command as the job's user ({{ cycler.__init__.__globals__ ... }}).
    environment = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["version"] = __version__

    def score_class(value: float | None) -> str:
        """A score's colour band, from the same thresholds as the standings."""
        if value is None:
            return "s-none"
        if value >= standings.excellent:
            return "s-excellent"
        if value >= standings.good:
            return "s-good"
        return "s-watch" if value >= standings.watch else "s-critical"

    environment.globals["score_class"] = score_class
    return environment


def template_line(exc: BaseException, template: str) -> str:
    """The template file and line where rendering failed, as jinja's traceback names them."""
    where = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename.endswith((".html", ".txt"))
    ]
    if where:
        return f"{where[-1].filename}, line {where[-1].lineno}"
    lineno = getattr(exc, "lineno", None)
    return f"{getattr(exc, 'filename', None) or template}" + (f", line {lineno}" if lineno else "")


def template_environment(standings: Standings, template_folder: Path | None = None) -> Environment:
    """The reports' Environment, for what is rendered outside a Renderer (the email bodies)."""
    return _environment(standings, template_folder)


def _static(name: str) -> str:
    return resources.files("reports").joinpath(f"static/{name}").read_text("utf-8")


def stylesheet() -> Markup:
    """The project's own CSS, trusted: it is inlined raw (escaping would break its quotes).

    The browser-only part comes last, so that `Renderer.pdf` can leave it out.
    """
    return Markup(_static("report.css") + _static("screen.css"))


def print_stylesheet() -> str:
    """The print-only CSS every PDF is laid out with (a PDF depends on it as on its HTML)."""
    return _static("print.css")


def restricted_fetcher() -> Any:
    """A WeasyPrint URL fetcher that only resolves data: URIs.

    Charts and styles are inline, so no other scheme is ever needed: a name or
    note in the data can never make the renderer read a file or call a server.
    """
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=["data"], fail_on_errors=True)


# WeasyPrint's user-agent stylesheet styles the ::footnote-* and ::note-* pseudo-elements of
# every element, and keeps a computed style for each of them whether or not any footnote exists:
# a third of the memory a long table takes to lay out (205 of 607 MiB for the 141-page pack of
# 1,000 vendors). Our documents have no footnotes or notes, so those rules are left out, unless
# a company's template asks for them (float: footnote, position: note()) or hides CSS in a data:
# URI.
_NOTE_RULE = re.compile(r"^::(?:footnote|note)-")
_USES_NOTES = re.compile(r"float\s*:\s*footnote|note\(|data:text/css", re.IGNORECASE)


@functools.cache
def _html_class() -> Any:
    """weasyprint.HTML, or a subclass without the note rules in its user-agent stylesheet.

    _ua_stylesheets is WeasyPrint's own (internal) hook for that sheet: if a release renames
    it or the sheet, this is plain HTML again (tests/test_reports.py says so), never a failure.
    """
    from weasyprint import CSS, HTML

    try:
        from weasyprint.css.counters import CounterStyle
        from weasyprint.html import UA, UA_STYLESHEET
    except ImportError:
        return HTML
    if not callable(getattr(HTML, "_ua_stylesheets", None)):
        return HTML
    kept = "\n".join(line for line in UA.splitlines() if not _NOTE_RULE.match(line))
    # Its @counter-style rules go to a throwaway registry: the documents' own copy of
    # WeasyPrint's registry has them already, and defining them twice would warn each run.
    sheet = CSS(string=kept, counter_style=CounterStyle())

    class WithoutNotes(HTML):
        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [sheet if s is UA_STYLESHEET else s for s in super()._ua_stylesheets(forms)]

    return WithoutNotes


def html_document(html: str) -> Any:
    """The weasyprint.HTML of a document, with no footnote or note styles if it has none."""
    from weasyprint import HTML

    cls = HTML if _USES_NOTES.search(html) else _html_class()
    return cls(string=html, url_fetcher=restricted_fetcher())


class Renderer:
    """Renders HTML from templates and PDF from that HTML; nothing is fetched but data: URIs."""

    def __init__(self, standings: Standings, template_folder: Path | None = None) -> None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        self.environment = _environment(standings, template_folder)
        # One font configuration per process: fonts are found and loaded once, not per document.
        self.fonts = FontConfiguration()
        self.css = stylesheet()
        self.screen_css = _static("screen.css")
        # Parsed once and reused for every document of the run.
        self.pdf_seconds = 0.0
        self.pdf_pages = 0
        self.print_css = CSS(
            string=_static("print.css"), url_fetcher=restricted_fetcher(), font_config=self.fonts
        )

    def html(self, template: str, **model: Any) -> str:
        try:
            return self.environment.get_template(template).render(css=self.css, **model)
        except TemplateError as exc:
            raise TemplateFailure(f"template {template_line(exc, template)}: {exc}") from None

    def pdf(self, html: str) -> bytes:
        # The document dates come from <meta name="dcterms.created">, set from the as-of
        # day, so a rerun on the same data gives the same bytes.
        # PDF/A-3u: archivable, fonts embedded, text extractable as Unicode.
        started = time.perf_counter()
        html = html.replace(self.screen_css, "", 1)
        document = html_document(html).render(
            stylesheets=[self.print_css], font_config=self.fonts, pdf_variant="pdf/a-3u"
        )
        pdf: bytes = document.write_pdf(pdf_variant="pdf/a-3u")
        self.pdf_seconds += time.perf_counter() - started
        self.pdf_pages += len(document.pages)
        return pdf

    def outputs(self, stem: str, html: str, formats: Sequence[str]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        if "html" in formats:
            files[f"{stem}.html"] = html.encode("utf-8")
        if "pdf" in formats:
            files[f"{stem}.pdf"] = self.pdf(html)
        return files
