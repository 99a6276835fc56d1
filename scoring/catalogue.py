"""The one place that knows every KPI: the built-in ones of contract section 3 and those a
company declares under [kpis] (section 10).

Each entry says what the KPI is called and titled, which way is better, what kind of figure
it is (a rate of a sample, a mean, a ratio of money), which score-table columns are its
numerator and denominator, its unit, and the band it is scored on when it is a dimension.
Significance tests, control charts, report tables, service levels and the scores read this
catalogue instead of keeping lists of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from scorecard.config import DIMENSIONS, Band, Condition, Config, DeclaredKpi
from scorecard.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

Kind = Literal["rate", "mean", "ratio"]


@dataclass(frozen=True)
class Kpi:
    name: str
    """Its column in scores.csv."""
    title: str
    kind: Kind
    """rate: successes / trials of a sample (tested, with intervals); mean: a value per item;
    ratio: money over money (no sampling noise)."""
    higher_is_better: bool
    numerator: str
    """The score-table column summed above the line (for accuracy: the defects)."""
    denominator: str
    unit: str
    """"%" for rates; "hours", "minutes", ... for means; "x" for a ratio."""
    table: str
    """The table it is measured on: work_items, requests or charges."""
    dimension: str | None = None
    """The score it makes: a built-in dimension, or a declared KPI's own name; None: not scored."""
    band: Band | None = None
    """Declared KPIs carry their band; the built-in ones read [scoring.bands.<dimension>]."""
    declared: bool = False
    complement: bool = False
    """The numerator counts failures (accuracy = 1 - defects / checked units)."""
    sample: str = "items"
    """What its trials are called in the reports ("checked units", "requests due")."""
    counted_when: str = "completed"
    """When its rows count: completed, due or received (work items), opened (requests), as
    contract section 3 says (declared: counted_when)."""
    dimension_title: str = ""
    """The dimension's title on the scorecard and its trend ("Speed (on time)"); "": title."""
    short: str = ""
    """Its column head where many columns share a page ("On time"); "": title."""
    why: str = ""
    """How the line under the headline names it: "-8 on time, -2 accuracy"; "": title."""
    counts: str = ""
    """What its numerator counts, in "how it is computed": "3 on time / 4 items due"."""
    behind: str = ""
    """What the items behind a missed level are, after their count: "14 late"."""
    median: str | None = None
    """A mean's median: its column in scores.csv, shown beside the mean; not scored."""

    @property
    def successes(self) -> pl.Expr:
        """The successes of a rate, over the score table's columns."""
        import polars as pl  # here: reading the config (`scorecard --help`, check) needs no polars

        if self.complement:
            return pl.col(self.denominator) - pl.col(self.numerator)
        return pl.col(self.numerator)

    @property
    def trials(self) -> pl.Expr:
        import polars as pl

        return pl.col(self.denominator)

    @property
    def is_rate(self) -> bool:
        return self.kind == "rate"

    @property
    def counted_on_completion(self) -> bool:
        return self.counted_when == "completed"

    @property
    def heading(self) -> str:
        """The title of the dimension it makes (its own title when it has no other)."""
        return self.dimension_title or self.title

    @property
    def column_head(self) -> str:
        return self.short or self.title

    @property
    def why_name(self) -> str:
        return self.why or self.title


BUILT_IN: tuple[Kpi, ...] = (
    Kpi("accuracy", "Accuracy", "rate", True, "defects", "qa_checked_units", "%",
        "work_items", "accuracy", complement=True, sample="checked units",
        why="accuracy", counts="defects", behind="with defects"),
    Kpi("rework_rate", "Rework rate", "rate", False, "reworked_items", "work_items_completed",
        "%", "work_items", sample="items completed", behind="reworked"),
    Kpi("on_time_rate", "On time", "rate", True, "items_on_time", "items_due", "%",
        "work_items", "speed", sample="items due", counted_when="due",
        dimension_title="Speed (on time)", why="on time", counts="on time", behind="late"),
    Kpi("mean_turnaround_hours", "Mean turnaround", "mean", False, "turnaround_hours_total",
        "work_items_completed", "hours", "work_items", behind="over the maximum",
        median="median_turnaround_hours"),
    Kpi("response_within_target_rate", "Responses within target", "rate", True,
        "requests_within_target", "requests_target_due", "%", "requests", "responsiveness",
        sample="requests due", counted_when="opened", dimension_title="Responsiveness",
        short="Response", why="responsiveness", counts="answered in target",
        behind="outside target"),
    Kpi("mean_first_response_hours", "Mean first response", "mean", False,
        "response_hours_total", "requests_answered", "hours", "requests",
        counted_when="opened", behind="over the maximum"),
    Kpi("cost_ratio", "Cost vs in-house", "ratio", False, "tco_per_unit",
        "in_house_cost_per_unit", "x", "charges", "cost", short="Cost", why="cost"),
)  # fmt: skip

# The composite's sampled inputs are the rates that are dimensions; its cost input is a ratio.


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def failed_text(success: Condition) -> str:
    """What a trial that failed a declared rate's success condition is, read off the condition:
    "with csat below 4", "with contacts other than 1" (an item behind a missed level)."""
    if success.all is not None:
        return " or ".join(failed_text(part) for part in success.all)
    column = success.column
    if success.at_least is not None:
        return f"with {column} below {_value(success.at_least)}"
    if success.at_most is not None:
        return f"with {column} above {_value(success.at_most)}"
    if success.not_null is not None:
        return f"without {column}"
    if success.is_true is not None:
        return f"with {column} not true"
    if success.in_ is not None:
        return f"with {column} not in {', '.join(_value(v) for v in success.in_)}"
    return f"with {column} other than {_value(success.equals)}"


def declared_kpi(name: str, kpi: DeclaredKpi) -> Kpi:
    unit = "%" if kpi.kind == "rate" else (kpi.unit or "")
    sample = {"work_items": "items", "requests": "requests"}[kpi.table]
    return Kpi(
        name=name,
        title=kpi.title or name.replace("_", " ").capitalize(),
        kind=kpi.kind,
        higher_is_better=kpi.higher_is_better,
        numerator=f"{name}_numerator",
        denominator=f"{name}_denominator",
        unit=unit,
        table=kpi.table,
        dimension=name,
        band=Band(floor=kpi.floor, target=kpi.target),
        declared=True,
        sample=sample,
        counted_when=kpi.when,
        behind=failed_text(kpi.success) if kpi.success is not None else "",
    )


@dataclass(frozen=True)
class Catalogue:
    kpis: tuple[Kpi, ...]

    def __getitem__(self, name: str) -> Kpi:
        for kpi in self.kpis:
            if kpi.name == name:
                return kpi
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(kpi.name == name for kpi in self.kpis)

    @property
    def names(self) -> list[str]:
        return [kpi.name for kpi in self.kpis]

    @property
    def rates(self) -> tuple[Kpi, ...]:
        """Every rate, built-in first: each gets a significance test, interval and chart."""
        return tuple(kpi for kpi in self.kpis if kpi.is_rate)

    @property
    def declared(self) -> tuple[Kpi, ...]:
        """The declared KPIs, in config order."""
        return tuple(kpi for kpi in self.kpis if kpi.declared)

    @property
    def dimensions(self) -> dict[str, Kpi]:
        """Dimension -> the KPI it scores: the four built-in ones, then every declared KPI."""
        return {kpi.dimension: kpi for kpi in self.kpis if kpi.dimension is not None}

    def band(self, kpi: Kpi, config: Config) -> Band:
        if kpi.band is not None:
            return kpi.band
        assert kpi.dimension in DIMENSIONS
        band: Band = getattr(config.scoring.bands, kpi.dimension)
        return band

    def weights(self, config: Config) -> dict[str, float]:
        """The weight of each dimension (a declared KPI without one weighs 0: shown, not in
        the composite)."""
        return {d: config.scoring.weights.of(d) for d in self.dimensions}

    @property
    def service_level_kpis(self) -> dict[str, Kpi]:
        """What a service level may hold: every rate and mean (not the cost ratio)."""
        return {kpi.name: kpi for kpi in self.kpis if kpi.kind in ("rate", "mean")}


BUILT_IN_CATALOGUE = Catalogue(BUILT_IN)
DIMENSION_KPI: Mapping[str, str] = {d: kpi.name for d, kpi in BUILT_IN_CATALOGUE.dimensions.items()}
"""The built-in dimensions' KPIs (contract section 4)."""


def catalogue(config: Config) -> Catalogue:
    """The built-in KPIs, then the declared ones in config order."""
    return Catalogue(BUILT_IN + tuple(declared_kpi(n, k) for n, k in config.kpis.items()))


def check_config(config: Config) -> None:
    """What the config's own validation cannot know without the catalogue: a declared KPI named
    like a built-in column, and service levels on KPIs that exist, facing the right way."""
    where = config.source_path or "config"
    known = catalogue(config)
    reserved = {kpi.name for kpi in BUILT_IN} | set(DIMENSIONS) | {"composite"}
    for name in config.kpis:
        if name in reserved or name.endswith(("_score", "_numerator", "_denominator")):
            raise ConfigError(
                f"{where}: kpis.{name}: the name is taken by a built-in KPI or column; choose another"
            )
    levels = known.service_level_kpis
    for vendor_id, contract in config.contracts.items():
        for index, level in enumerate(contract.service_levels):
            key = f"{where}: contracts.{vendor_id}.service_levels.{index}"
            kpi = levels.get(level.kpi)
            if kpi is None:
                raise ConfigError(
                    f"{key}.kpi: {level.kpi!r} is not a KPI a service level can hold "
                    f"(one of {', '.join(levels)})"
                )
            if level.minimum is not None and not kpi.higher_is_better:
                raise ConfigError(
                    f"{key}.minimum: {kpi.name} is better when lower, so its level is a maximum"
                )
            if level.maximum is not None and kpi.higher_is_better:
                raise ConfigError(
                    f"{key}.maximum: {kpi.name} is better when higher, so its level is a minimum"
                )
            if kpi.is_rate and level.threshold > 1:
                which = "minimum" if level.minimum is not None else "maximum"
                raise ConfigError(f"{key}.{which}: {kpi.name} is a fraction 0-1 (0.95 means 95 %)")
