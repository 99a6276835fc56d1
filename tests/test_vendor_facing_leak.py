"""Contract section 12: no figure on a vendor-facing document rests on the in-house cost.

The demo world is run twice, with two different in-house cost models. The internal
scorecards must change (else the test proves nothing); the vendor-facing ones, HTML and
PDF, must not change by a single figure.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from scorecard.config import config_from_mapping
from scoring.facing import facing_composite

AS_OF = "2026-09-30"
CONFIG = Path(__file__).resolve().parents[1] / "scorecard" / "example-config.toml"


class _Text(HTMLParser):
    """The visible text of a page: no style, no script, no attribute (chart ids)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def html_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text())
    return " ".join(parser.parts)


def pdf_text(path: Path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def _dearer_in_house(text: str) -> str:
    """The same config with every in-house salary tripled: a different in-house cost model."""
    changed, count = re.subn(
        r"^salary = (\d+)", lambda m: f"salary = {int(m.group(1)) * 3}", text, flags=re.M
    )
    assert count >= 5
    return changed


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, scorecard_cli) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("facing-leak")
    url = f"sqlite:///{base / 'demo.db'}"
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.1", "--through", AS_OF)
    assert made.exit_code == 0, made.output
    dearer = base / "dearer.toml"
    dearer.write_text(_dearer_in_house(CONFIG.read_text()))
    runs = []
    for name, config in (("one", CONFIG), ("two", dearer)):
        result = scorecard_cli.run(url, base / name, "--format", "html,pdf", config=config)
        assert result.exit_code in (0, 1), result.output
        runs.append(base / name / AS_OF)
    return runs[0], runs[1]


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,.]*", text)


def test_the_internal_scorecards_do_change_with_the_in_house_cost(two_runs):
    one, two = two_runs
    changed = [
        p.name
        for p in sorted((one / "vendors").glob("*.html"))
        if html_text(p) != html_text(two / "vendors" / p.name)
    ]
    assert changed, "the two cost models must move something, or the test below proves nothing"


def test_no_figure_on_a_vendor_facing_document_moves_with_the_in_house_cost(two_runs):
    one, two = two_runs
    documents = sorted((one / "vendor-facing").glob("*.*"))
    assert {p.suffix for p in documents} == {".html", ".pdf"}
    for path in documents:
        other = two / "vendor-facing" / path.name
        read = html_text if path.suffix == ".html" else pdf_text
        first, second = read(path), read(other)
        assert _numbers(first) == _numbers(second), path.name
        assert first == second, path.name


def test_the_vendor_facing_composite_is_the_mean_of_the_dimensions_it_shows():
    import polars as pl

    weights = config_from_mapping({}).scoring.weights.model_dump()
    frame = pl.DataFrame(
        {"accuracy_score": [100.0, None], "speed_score": [100.0, 40.0],
         "cost_score": [0.0, 0.0], "responsiveness_score": [100.0, None]}
    )  # fmt: skip
    got = frame.select(facing_composite(weights).alias("c")).get_column("c").to_list()
    # Three dimensions of 100 shown: 100, never the 75 that gives the cost score away.
    assert got == [100.0, 40.0]
