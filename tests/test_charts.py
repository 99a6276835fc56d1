"""The matplotlib charts: each figure drawn once, and cropped as savefig's "tight" would."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from matplotlib.figure import Figure

from reports import charts
from scoring.control import ControlChart, p_chart

MONTHS = [dt.date(2025 + (m - 1) // 12, (m - 1) % 12 + 1, 1) for m in range(4, 19)]


def _control() -> list[ControlChart]:
    successes = [380 + (i % 3) for i in range(15)]
    successes[9] = 330  # a signal: its square is drawn too
    made = [p_chart(m, MONTHS, successes, [400] * 15) for m in ("quality", "timeliness")]
    return [c for c in made if c is not None]


# Every kind of figure, with the longest labels a legend holds.
FIGURES: dict[str, Callable[[], str]] = {
    "trend": lambda: charts.dimension_trend(
        ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"],
        {
            "Composite": [70.0, 72.5, None, 80.0, 81.0],
            "Accuracy": [90.0, 91.0, 92.0, 93.0, 94.0],
            "Responsiveness": [50.0, 55.0, 60.0, 65.0, 70.0],
        },
    ),
    "cost": lambda: charts.cost_vs_quality(
        [
            ("Ústav Zpracování Dokladů Severní Morava s.r.o.", 0.8, 0.95, 120000.0),
            ("B", 1.2, 0.9, 5000.0),
        ]
    ),
    "control": lambda: charts.control_charts(_control()),
}


def _svg(uri: str) -> str:
    return base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")


def _size(uri: str) -> tuple[float, float]:
    """The width and height of an SVG chart, in points."""
    found = re.search(r'<svg [^>]*width="([0-9.]+)pt" height="([0-9.]+)pt"', _svg(uri))
    assert found, _svg(uri)[:400]
    return float(found.group(1)), float(found.group(2))


@pytest.fixture(autouse=True)
def nothing_drawn_yet() -> None:
    charts._DRAWN.clear()


@pytest.mark.parametrize("name", FIGURES)
def test_each_figure_is_drawn_once(monkeypatch, name):
    """savefig(bbox_inches="tight") draws the whole figure once only to measure it, then again."""
    drawn: list[Figure] = []
    draw = Figure.draw

    def counted(self: Figure, renderer: Any) -> None:
        drawn.append(self)
        draw(self, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    FIGURES[name]()
    assert len(drawn) == 1


@pytest.mark.parametrize("name", FIGURES)
def test_each_figure_is_cropped_as_savefig_tight_would_crop_it(monkeypatch, name):
    """No legend, label or title cut off: the same bounds as matplotlib's own "tight"."""
    ours = _size(FIGURES[name]())
    charts._DRAWN.clear()
    monkeypatch.setattr(charts, "_tight_bbox", lambda figure: "tight")
    theirs = _size(FIGURES[name]())
    assert ours == pytest.approx(theirs, abs=0.01)


def test_control_chart_panels_leave_room_for_the_longest_y_labels(monkeypatch):
    """A fixed gap, not a tight layout: the right panel's labels ("98.95", "%") stay clear of
    the left panel even when the rates are so close that every label has five characters."""
    made = [p_chart(m, MONTHS, [99000 + 7 * (i % 5) for i in range(15)], [100000] * 15)
            for m in ("quality", "timeliness")]  # fmt: skip
    labels: list[str] = []
    gaps: list[float] = []
    data_uri = charts._data_uri

    def measured(figure: Figure) -> str:
        left, right = figure.axes
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        labels.extend(t.get_text() for t in right.get_yticklabels())
        gaps.append(right.get_tightbbox(renderer).x0 - left.get_window_extent(renderer).x1)
        return data_uri(figure)

    monkeypatch.setattr(charts, "_data_uri", measured)
    charts.control_charts([c for c in made if c is not None])
    assert max(len(label) for label in labels) == 5
    assert len(gaps) == 1 and gaps[0] > 0


def _svg(uri: str) -> str:
    return base64.b64decode(uri.split(",", 1)[1]).decode()


def test_a_trend_point_on_a_small_sample_is_drawn_hollow_and_the_legend_is_the_pages():
    labels = ["2025-Q3", "2025-Q4", "2026-Q1"]
    series: dict[str, list[float | None]] = {"Responsiveness": [87.0, 0.0, 92.0]}
    plain = _svg(charts.dimension_trend(labels, series))
    marked = _svg(charts.dimension_trend(labels, series, {"Responsiveness": [False, True, False]}))
    # The hollow marker: filled white, edged in the line's colour, over the line's own marker.
    hollow = f"fill: #ffffff; stroke: {charts.PALETTE[0]}"
    assert hollow not in plain
    assert hollow in marked
    # No legend in the image: the page writes it (line_legend), so it reads on a phone.
    assert "Responsiveness" not in plain


def test_the_pages_legend_matches_each_lines_colour_marker_and_dash():
    legend = charts.line_legend(["Composite", "Accuracy"])
    assert legend[0] == {"name": "Composite", "colour": charts.PALETTE[0], "glyph": "●",
                         "line": True, "dasharray": ""}  # fmt: skip
    assert (legend[1]["colour"], legend[1]["glyph"], legend[1]["dasharray"]) == (
        charts.PALETTE[1],
        "■",
        "5 3",
    )
    # The cost chart's bubbles: shape and colour, no line.
    bubbles = charts.line_legend(["A", "B"], lines=False)
    assert [(b["glyph"], b["line"], b["dasharray"]) for b in bubbles] == [
        ("●", False, ""),
        ("■", False, ""),
    ]


def test_the_cost_chart_names_no_vendor_in_the_image_the_page_does():
    svg = _svg(
        charts.cost_vs_quality([("Vendor Zed", 0.8, 0.95, 1000.0), ("Other", 1.2, 0.9, 50.0)])
    )
    assert "Vendor Zed" not in svg and "in-house cost" in svg
