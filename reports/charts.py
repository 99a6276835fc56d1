"""Charts drawn by matplotlib as SVG, embedded as data URIs (no file or network fetch).

Deterministic output (fixed hash salt, no date) so a rerun gives identical
files. Lines differ by marker and dash as well as colour, so they survive
printing in grey.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _standing_background(axes: plt.Axes) -> None:
    for low, high, colour in STANDING_BANDS:
        axes.axhspan(low, high, color=colour, zorder=0, linewidth=0)


def score_trend(
    labels: Sequence[str], series: dict[str, list[float | None]], width: float = 7.0
) -> str:
    """Composite score per period, one line per vendor, over the standing bands."""
    figure, axes = plt.subplots(figsize=(width, 3.1))
    _standing_background(axes)
    x = list(range(len(labels)))
    for i, (name, values) in enumerate(series.items()):
        ys = [float("nan") if v is None else v for v in values]
        axes.plot(
            x, ys, label=name, color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)],
            linestyle=DASHES[i % len(DASHES)], linewidth=1.4, markersize=4,
        )  # fmt: skip
    axes.set_xticks(x, labels)
    axes.set_ylim(0, 100)
    axes.set_ylabel("Composite score")
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=7)
    return _data_uri(figure)


def dimension_trend(labels: Sequence[str], series: dict[str, list[float | None]]) -> str:
    """Composite and the four dimension scores of one vendor over the periods."""
    return score_trend(labels, series, width=6.2)


def cost_vs_quality(points: Sequence[tuple[str, float, float, float]]) -> str:
    """Cost ratio against accuracy per vendor; bubble area is spend. Upper right is best.

    A legend names the vendors (shape and colour), since labels on the plot collide.
    """
    figure, axes = plt.subplots(figsize=(7.0, 3.4))
    largest = max((abs(p[3]) for p in points), default=1.0) or 1.0
    handles = []
    for i, (name, cost, quality, spend) in enumerate(points):
        colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        axes.scatter(
            [cost], [quality * 100], s=40 + 560 * abs(spend) / largest, color=colour, marker=marker,
            alpha=0.75, edgecolors="#222222", linewidths=0.5, zorder=3,
        )  # fmt: skip
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker=marker,
                linestyle="",
                markersize=7,
                markeredgecolor="#222222",
                markeredgewidth=0.5,
                label=name,
            )
        )
    axes.axvline(1.0, color="#555555", linestyle="--", linewidth=0.8)
    axes.text(
        1.0, 0.01, " in-house cost", transform=axes.get_xaxis_transform(), fontsize=7, va="bottom"
    )
    axes.set_xlabel("Cost ratio (total cost of ownership / in-house cost per unit; < 1 is cheaper)")
    axes.set_ylabel("Accuracy (%)")
    axes.invert_xaxis()
    axes.legend(
        handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=7
    )
    return _data_uri(figure)
