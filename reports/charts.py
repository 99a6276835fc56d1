"""Charts drawn by matplotlib as SVG, embedded as data URIs (no file or network fetch).

Deterministic output (fixed hash salt, no date) so a rerun gives identical
files. Lines differ by marker and dash as well as colour, so they survive
printing in grey.
"""

from __future__ import annotations

import base64
import functools
import io
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_svg import RendererSVG
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from scoring.control import MEASURES as MEASURE_TITLES
from scoring.control import ControlChart

matplotlib.rcParams.update(
    {
        "svg.hashsalt": "scorecard",
        "text.parse_math": False,  # a vendor name with two "$" is a name, not TeX
        # Text stays text (DejaVu Sans, embedded in the PDF): faster to render than glyph paths,
        # and searchable.
        "svg.fonttype": "none",
        "font.family": "DejaVu Sans",
        "font.size": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#555555",
        "axes.grid": True,
        "grid.color": "#dddddd",
        "grid.linewidth": 0.6,
    }
)

PALETTE = [
    "#1b4f72",
    "#c0392b",
    "#1e8449",
    "#b9770e",
    "#6c3483",
    "#117a65",
    "#5d6d7e",
    "#a04000",
    "#2e86c1",
    "#7b241c",
]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
DASHES = ["-", "--", "-.", ":"]
STANDING_BANDS = [
    (85, 100, "#e9f5ec"),
    (70, 85, "#f4f8ec"),
    (50, 70, "#fdf5e6"),
    (0, 50, "#fbeaea"),
]


# The last figures drawn, by what they were drawn from: a vendor's internal and vendor-facing
# scorecards render one after the other in the same process and share most of their charts,
# so each figure is drawn once. Small: only the current vendor's figures are ever asked again.
_DRAWN: OrderedDict[str, str] = OrderedDict()
_DRAWN_MAX = 8

ChartFunction = TypeVar("ChartFunction", bound=Callable[..., str])


def _drawn_once(draw: ChartFunction) -> ChartFunction:
    """Reuse the data URI of a figure already drawn from the same arguments (by their repr:
    lists, dicts, numbers, text and frozen dataclasses, all of which print every value)."""

    @functools.wraps(draw)
    def cached(*args: Any, **kwargs: Any) -> str:
        key = f"{draw.__name__}{args!r}{sorted(kwargs.items())!r}"
        if key in _DRAWN:
            _DRAWN.move_to_end(key)
            return _DRAWN[key]
        uri = draw(*args, **kwargs)
        _DRAWN[key] = uri
        if len(_DRAWN) > _DRAWN_MAX:
            _DRAWN.popitem(last=False)
        return uri

    return cast(ChartFunction, cached)


def _tight_bbox(figure: Figure) -> Bbox:
    """What savefig(bbox_inches="tight") crops to, without the throwaway draw of the whole
    figure it makes first: the bounds of every artist, measured by the SVG renderer at SVG's
    72 dpi (as savefig measures them), plus savefig's padding. Same crop to a millionth of a
    point, for about a third less of the chart's cost."""
    figure.set_dpi(72)
    renderer = RendererSVG(*figure.bbox.size, io.StringIO())
    bbox: Bbox = figure.get_tightbbox(renderer)
    pad = matplotlib.rcParams["savefig.pad_inches"]
    return bbox.padded(pad)


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches=_tight_bbox(figure), metadata={"Date": None})
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _standing_background(axes: plt.Axes) -> None:
    for low, high, colour in STANDING_BANDS:
        axes.axhspan(low, high, color=colour, zorder=0, linewidth=0)


# The marker of each line as a character, for a legend written in HTML beside the image.
MARKER_GLYPHS = {
    "o": "●", "s": "■", "^": "▲", "D": "◆", "v": "▼", "P": "✚", "X": "✖", "<": "◀", ">": "▶",
    "*": "★",
}  # fmt: skip
# The dash of each line in an SVG swatch (stroke-dasharray), matching DASHES.
DASH_ARRAYS = {"-": "", "--": "5 3", "-.": "6 2 1.5 2", ":": "1.5 2"}


def line_legend(names: Sequence[str], lines: bool = True) -> list[dict[str, Any]]:
    """The colour, marker and dash of each series of score_trend (or, lines=False, each
    bubble of cost_vs_quality), in order: the legend is written in the page, as text, so it
    stays legible when the image shrinks to a phone's width."""
    return [
        {
            "name": name,
            "colour": PALETTE[i % len(PALETTE)],
            "glyph": MARKER_GLYPHS[MARKERS[i % len(MARKERS)]],
            "line": lines,
            "dasharray": DASH_ARRAYS[DASHES[i % len(DASHES)]] if lines else "",
        }
        for i, name in enumerate(names)
    ]


@_drawn_once
def score_trend(
    labels: Sequence[str],
    series: dict[str, list[float | None]],
    width: float = 7.0,
    y_label: str = "Composite score",
    small: dict[str, list[bool]] | None = None,
    legend: bool = True,
) -> str:
    """Composite score per period, one line per vendor, over the standing bands.

    A point in `small` (the score rests on a small sample) is drawn hollow, so a swing on a
    few items does not read like one on thousands. legend=False leaves the legend to the
    page (see line_legend).
    """
    figure, axes = plt.subplots(figsize=(width, 3.1))
    _standing_background(axes)
    x = list(range(len(labels)))
    for i, (name, values) in enumerate(series.items()):
        ys = [float("nan") if v is None else v for v in values]
        colour = PALETTE[i % len(PALETTE)]
        marker = MARKERS[i % len(MARKERS)]
        axes.plot(
            x, ys, label=name, color=colour, marker=marker,
            linestyle=DASHES[i % len(DASHES)], linewidth=1.4, markersize=4,
        )  # fmt: skip
        flags = (small or {}).get(name, [])
        hollow = [(xi, y) for xi, y, flag in zip(x, ys, flags, strict=False) if flag]
        if hollow:
            axes.plot(
                [h[0] for h in hollow], [h[1] for h in hollow], linestyle="none", marker=marker,
                markersize=6, markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.4,
            )  # fmt: skip
    axes.set_xticks(x, labels)
    axes.set_ylim(0, 100)
    axes.set_ylabel(y_label)
    if legend:
        axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=7)
    return _data_uri(figure)


def dimension_trend(
    labels: Sequence[str],
    series: dict[str, list[float | None]],
    small: dict[str, list[bool]] | None = None,
) -> str:
    """Composite and the dimension scores of one vendor over the periods; the legend is
    the page's (line_legend), and a score on a small sample is a hollow marker."""
    # The axis carries the composite and each dimension: it is a score, not "the composite".
    return score_trend(
        labels, series, width=6.2, y_label="Score (0–100)", small=small, legend=False
    )


# Above this many vendors a legend would outgrow the chart: the bubbles go unnamed.
LEGEND_MAX = 10


@_drawn_once
def cost_vs_quality(points: Sequence[tuple[str, float, float, float]]) -> str:
    """Cost ratio against accuracy per vendor; bubble area is spend. Upper right is best.

    Up to LEGEND_MAX vendors, each has its own shape and colour, which the page's legend
    names (line_legend(names, lines=False)), since labels on the plot collide; beyond that
    the chart shows the spread only.
    """
    named = len(points) <= LEGEND_MAX
    figure, axes = plt.subplots(figsize=(7.0, 3.4))
    largest = max((abs(p[3]) for p in points), default=1.0) or 1.0
    if named:
        for i, (_name, cost, quality, spend) in enumerate(points):
            colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
            axes.scatter(
                [cost], [quality * 100], s=40 + 560 * abs(spend) / largest, color=colour,
                marker=marker, alpha=0.75, edgecolors="#222222", linewidths=0.5, zorder=3,
            )  # fmt: skip
    else:
        # Unnamed bubbles all look alike: one collection, drawn in the same order, not one per
        # vendor (at 1,000 vendors that took 2.4 s and 30 MiB to draw, and 1.1 MB to embed).
        axes.scatter(
            [p[1] for p in points], [p[2] * 100 for p in points],
            s=[40 + 560 * abs(p[3]) / largest for p in points], color=PALETTE[0], marker="o",
            alpha=0.75, edgecolors="#222222", linewidths=0.5, zorder=3,
        )  # fmt: skip
    axes.axvline(1.0, color="#555555", linestyle="--", linewidth=0.8)
    axes.text(
        1.0, 0.01, " in-house cost", transform=axes.get_xaxis_transform(), fontsize=7, va="bottom"
    )
    axes.set_xlabel("Cost ratio (total cost of ownership / in-house cost per unit; < 1 is cheaper)")
    axes.set_ylabel("Accuracy (%)")
    axes.invert_xaxis()
    return _data_uri(figure)


def sparkline(values: Sequence[float | None], width: int = 64, height: int = 16) -> str:
    """A composite score's path over the periods, 0-100, as a tiny hand-written SVG.

    Written directly rather than through matplotlib: one per vendor in the
    ranking, so it must cost microseconds, not a figure each.
    """
    pad = 2.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    # Unscored periods break the line: each run of scored periods is its own polyline.
    runs: list[list[tuple[float, float]]] = []
    previous = None
    for i, v in enumerate(values):
        if v is None:
            previous = None
            continue
        point = (pad + i * step, pad + (height - 2 * pad) * (1 - v / 100))
        if previous is None:
            runs.append([])
        runs[-1].append(point)
        previous = point
    points = [point for run in runs for point in run]
    lines = "".join(
        f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in run)}" />' for run in runs
    )
    last = (
        f'<circle cx="{points[-1][0]:.1f}" cy="{points[-1][1]:.1f}" r="1.8" fill="#0f2d4a" />'
        if points
        else ""
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
        f'<line x1="0" y1="{height / 2}" x2="{width}" y2="{height / 2}" stroke="#dddddd" stroke-width="0.6" />'
        f'<g fill="none" stroke="#0f2d4a" stroke-width="1.2">{lines}</g>{last}</svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")


# Where the control charts' panels sit, in fractions of the figure: what a tight layout found
# for the demo's charts, with the widest gap between panels it needed and a little more.
CONTROL_LAYOUT = {"left": 0.1, "right": 0.98, "bottom": 0.135, "top": 0.875, "wspace": 0.3}


@_drawn_once
def control_charts(charts: Sequence[ControlChart]) -> str:
    """One panel per measure: the monthly rate, centre line and 3-sigma limits; signals in red."""
    figure, panels = plt.subplots(1, len(charts), figsize=(3.4 * len(charts), 2.3), squeeze=False)
    for axes, chart in zip(panels[0], charts, strict=True):
        x = list(range(len(chart.months)))
        flagged = {
            chart.months.index(m)
            for s in chart.signals
            for m in chart.months[
                chart.months.index(s.first_month) : chart.months.index(s.last_month) + 1
            ]
        }
        for limit in (chart.upper, chart.lower):
            axes.step(
                x,
                [v * 100 for v in limit],
                where="mid",
                color="#a5281b",
                linewidth=0.8,
                linestyle="--",
            )
        axes.axhline(chart.centre * 100, color="#1e6b3a", linewidth=0.9)
        axes.plot(
            x,
            [v * 100 for v in chart.rates],
            color="#0f2d4a",
            marker="o",
            markersize=3,
            linewidth=1.1,
        )
        if flagged:
            marked = sorted(flagged)
            axes.plot(
                marked, [chart.rates[i] * 100 for i in marked], linestyle="", marker="s",
                markersize=6, markerfacecolor="none", markeredgecolor="#a5281b", markeredgewidth=1.2,
            )  # fmt: skip
        ticks = x[:: -(-len(x) // 5)]  # at most five labels: they must not overlap
        axes.set_xticks(ticks, [chart.months[i] for i in ticks], fontsize=6.5)
        axes.set_ylabel("%", fontsize=7)
        # A rate never leaves 0-100 %: no axis past it, even when every month is at 100 %.
        low, high = axes.get_ylim()
        axes.set_ylim(max(low, -1.0), min(high, 101.0))
        title = MEASURE_TITLES.get(chart.measure, chart.measure)
        axes.set_title(f"{title} · {chart.method} chart", fontsize=7.5)
    # Fixed room between the panels, not a tight layout (a fifth of the chart's cost, measuring
    # every label): enough for the right panel's longest y labels ("99.25") and its "%"; the
    # outer margins need no care, since the crop takes in whatever lies beyond them.
    figure.subplots_adjust(**CONTROL_LAYOUT)
    return _data_uri(figure)
