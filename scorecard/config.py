"""The run's configuration: one TOML file resolved once into a frozen, validated object.

Every default here is the default of the contract (section 4 and 3). Errors name
the key so a user can fix the file without reading code.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import math
import os
import re
import tomllib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import ArgumentError

from scorecard.errors import ConfigError, nearest
from scorecard.urls import RenamedScheme, parse_url, secret_query_keys

DATABASE_URL_ENV = "SCORECARD_DATABASE_URL"
CONFIG_ENV = "SCORECARD_CONFIG"
CONFIG_FILE_NAME = "scorecard.toml"
PRIORITIES = ("urgent", "high", "normal", "low")
DIMENSIONS = ("accuracy", "speed", "cost", "responsiveness")
Format = Literal["pdf", "html", "csv", "json"]
FORMATS: tuple[Format, ...] = ("pdf", "html", "csv", "json")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

Fraction = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]
# PostgreSQL's statement_timeout is a 32-bit number of milliseconds.
MAX_STATEMENT_TIMEOUT_SECONDS = 2_147_483
# Base-currency units for one unit of a currency: no currency is worth a million of another.
MAX_EXCHANGE_RATE = 1_000_000
NonNegative = Annotated[float, Field(ge=0)]


def _valid_address(value: str) -> str:
    """An address a mail server will take, checked when the config is read, not at send time."""
    if value.rpartition("@")[2] == "localhost" and value.count("@") == 1 and value[0] != "@":
        return value  # the local mail system: a special-use name email-validator refuses
    try:
        # No DNS look-up: the run may have no network, and an intranet domain is fine.
        validate_email(value, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not an email address: {exc}") from None
    return value


EmailAddress = Annotated[str, AfterValidator(_valid_address)]


class _Frozen(BaseModel):
    # inf and nan are not numbers a threshold, weight or timeout can be: `floor = nan` would
    # score every vendor NaN and rank it first.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DatabaseConfig(_Frozen):
    url: str | None = None
    """A URL without a password (a SQLite file, or a server using trust/peer auth)."""
    url_env: str | None = None
    """Name of an environment variable that holds the URL (the way to pass passwords)."""
    statement_timeout_seconds: Annotated[float, Field(gt=0, le=MAX_STATEMENT_TIMEOUT_SECONDS)] = 600
    """A query running longer is cancelled (PostgreSQL, MariaDB, MySQL) and the run exits 3.
    At most 2,147,483 s (24.8 days): PostgreSQL's largest statement_timeout."""
    parallel_queries: Annotated[int, Field(ge=1, le=16)] = 2
    """PostgreSQL and SQLite: sum the work items in this many concurrent queries on one snapshot."""
    duckdb_memory_mb: Annotated[int, Field(ge=64)] | None = None
    """DuckDB: the most memory it may use; default 32 MB per thread, at least 64 MB."""
    bigquery_maximum_bytes_billed: Annotated[int, Field(gt=0)] = 100_000_000_000
    """BigQuery: a query that would bill more bytes fails, unbilled (default 100 GB)."""
    time_travel: bool = True
    """Snowflake, BigQuery, Databricks (Delta): every table read as of the run's start."""

    @field_validator("url")
    @classmethod
    def _no_literal_password(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parsed = parse_url(value)
        except RenamedScheme as exc:
            raise ValueError(str(exc)) from None
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy URL: {exc}") from None
        if parsed.password or secret_query_keys(parsed):
            raise ValueError(
                "holds a literal password (in the URL or its query string); put the URL "
                "in an environment variable and name that variable in database.url_env"
            )
        return value


class ColumnConstant(_Frozen):
    """`canonical = { value = ... }`: the same value on every row; `{ null = true }`: always null."""

    value: str | bool | int | float | None = None
    null: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> ColumnConstant:
        if (self.value is not None) != self.null:
            return self
        raise ValueError("give either value = <constant> or null = true")


ColumnSource = str | ColumnConstant
Canonical = str | bool | int | float


class RowFilter(_Frozen):
    """`where = { column = "received_at", at_least = "2025-01-01" }`: only the rows that meet it
    are read (data, never SQL text). `column` is a canonical column, compared as its type."""

    column: str
    at_least: str | int | float | None = None
    at_most: str | int | float | None = None
    equals: Canonical | None = None
    in_: tuple[Canonical, ...] | None = Field(default=None, alias="in")
    not_null: bool = False

    @model_validator(mode="after")
    def _one_test(self) -> RowFilter:
        given = [
            name
            for name, value in (("at_least", self.at_least), ("at_most", self.at_most),
                                ("equals", self.equals), ("in", self.in_))
            if value is not None
        ] + (["not_null"] if self.not_null else [])  # fmt: skip
        if len(given) != 1:
            raise ValueError(
                f"where on {self.column!r}: give exactly one of at_least, at_most, equals, in, "
                "not_null = true"
            )
        return self


class VendorOverride(_Frozen):
    """What `from_activity` cannot know about one vendor."""

    name: str | None = None
    sourcing: str | None = None
    country: str | None = None
    currency: str | None = None
    manager_email: str | None = None
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None


ExtraType = Literal["integer", "number", "boolean", "text", "timestamp"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ExtraColumn(_Frozen):
    """`name = { column = "source_column", type = "integer" }` (contract section 10)."""

    column: Annotated[str, Field(min_length=1)]
    type: ExtraType


class TableSource(_Frozen):
    """Where a canonical table comes from when it is not a table of that name (contract section 6)."""

    table: str | None = None
    """The source table (or view), optionally schema-qualified: "crm.tickets"."""
    query: str | None = None
    """One SELECT (or WITH ... SELECT)."""
    absent: bool = False
    """The company does not track this table: what it measures is not measured."""
    from_activity: bool = False
    """vendors only: one vendor per vendor_id found in the other sources."""
    columns: dict[str, ColumnSource] = Field(default_factory=dict)
    """canonical column -> source column, constant or null; unnamed columns keep their name."""
    null_values: tuple[str, ...] = ()
    """Text values read as null, in every column."""
    values: dict[str, dict[str, Canonical]] = Field(default_factory=dict)
    """canonical column -> {source value: canonical value}."""
    formats: dict[str, str] = Field(default_factory=dict)
    """canonical column -> strftime format of a timestamp or date held as text."""
    if_null: dict[str, Canonical] = Field(default_factory=dict)
    """canonical column -> the value a null (or a null_values text) reads as; a value that is
    there but does not read is still a bad row."""
    where: RowFilter | tuple[RowFilter, ...] | None = None
    """Only the rows that meet this condition (or all of these) are read: rows left out are
    not read, so neither accepted nor rejected. A null never meets a condition."""
    defaults: VendorOverride = VendorOverride()
    """from_activity: the values every vendor gets unless overridden."""
    overrides: dict[str, VendorOverride] = Field(default_factory=dict)
    """from_activity: vendor_id -> its own values."""
    extra: dict[str, ExtraColumn] = Field(default_factory=dict)
    """Columns beyond the canonical ones, for declared KPIs: name -> source column and type."""

    @field_validator("formats")
    @classmethod
    def _known_codes(cls, value: dict[str, str]) -> dict[str, str]:
        for column, text in value.items():
            unknown = sorted(set(re.findall(r"%(.)", text)) - set(STRFTIME_CODES))
            if unknown:
                raise ValueError(
                    f"{column}: %{unknown[0]} is not supported (use %{' %'.join(STRFTIME_CODES)})"
                )
        return value

    @property
    def reads_rows(self) -> bool:
        return self.table is not None or self.query is not None

    @model_validator(mode="after")
    def _one_way(self) -> TableSource:
        ways = [self.table is not None, self.query is not None, self.absent, self.from_activity]
        if sum(ways) != 1:
            raise ValueError(
                "give exactly one of table, query, absent = true or (vendors) from_activity = true"
            )
        if not self.reads_rows and (
            self.columns
            or self.values
            or self.formats
            or self.null_values
            or self.if_null
            or self.where is not None
            or self.extra
        ):
            raise ValueError(
                "columns, values, formats, null_values, if_null, where and extra go with "
                "table or query"
            )
        for name in self.extra:
            if not _NAME.match(name):
                raise ValueError(
                    f"extra.{name}: a name of lower-case letters, digits and _ "
                    "(starting with a letter) is needed"
                )
        if not self.from_activity and (self.overrides or self.defaults != VendorOverride()):
            raise ValueError("defaults and overrides go with from_activity = true")
        return self


STRFTIME_CODES = ("Y", "y", "m", "d", "H", "I", "M", "S", "f", "p", "b", "z", "%")


DEFAULT_MAX_DATA_AGE_HOURS: float = 72
"""run.max_data_age_hours when the config does not say (contract section 11)."""


class RunConfig(_Frozen):
    period: Literal["month", "quarter"] = "quarter"
    history_periods: Annotated[int, Field(ge=0, le=40)] = 4
    output_dir: str = "out"
    formats: tuple[Format, ...] = FORMATS
    max_rejected_fraction: Fraction = 0.05
    scorecards: Literal["all", "active", "ranked", "none"] = "all"
    """Which vendors get a scorecard: all (every vendor scored in some period), active (activity
    in the current period), ranked (ranked in it), none (the portfolio pack alone)."""
    fiscal_year_start_month: Annotated[int, Field(ge=1, le=12)] = 1
    """First month of the fiscal year: quarters start there and read FY2027-Q1 (1: calendar)."""
    max_data_age_hours: NonNegative | None = None
    """The stale-data gate: when the newest work item was received longer ago than this at the
    end of the as-of day, the run fails (exit 1) and publishes nothing. None: the default, 72 h;
    0 turns the gate off (replaying an archived export)."""

    @property
    def data_age_limit_hours(self) -> float | None:
        """The gate in force: None when it is off."""
        hours = self.max_data_age_hours
        if hours is None:
            # A replay or test environment may set the default for every config it runs.
            given = os.environ.get("SCORECARD_MAX_DATA_AGE_HOURS", "")
            try:
                hours = float(given) if given else DEFAULT_MAX_DATA_AGE_HOURS
            except ValueError:
                raise ConfigError(
                    f"SCORECARD_MAX_DATA_AGE_HOURS={given!r} is not a number of hours"
                ) from None
        return hours or None

    """Above this share of rejected rows in any table the run exits 1 (it still writes everything)."""


class CurrencyConfig(_Frozen):
    base: str = "EUR"
    rates: dict[str, Annotated[float, Field(gt=0, le=MAX_EXCHANGE_RATE)]] = Field(
        default_factory=dict
    )
    """Units of the base currency for one unit of each other currency (at most a million:
    every charge then still converts to an exact number of cents)."""

    @field_validator("base")
    @classmethod
    def _iso_base(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError(f"{value!r} is not an ISO 4217 code such as EUR")
        return value

    @field_validator("rates")
    @classmethod
    def _iso_rates(cls, value: dict[str, float]) -> dict[str, float]:
        for code in value:
            if not _CURRENCY.match(code):
                raise ValueError(f"{code!r} is not an ISO 4217 code such as USD")
        return value

    def to_base(self) -> dict[str, float]:
        """Base-currency units for one unit of every known currency, the base itself included."""
        return {self.base: 1.0, **self.rates}


class Band(_Frozen):
    """The KPI value that scores 0 (floor) and the one that scores 100 (target)."""

    floor: float
    target: float

    @model_validator(mode="after")
    def _distinct(self) -> Band:
        if self.floor == self.target:
            raise ValueError("floor and target must differ")
        return self


class Weights(_Frozen):
    """The four dimensions' weights; a declared KPI's weight is a key of its own (`csat_top2 = 15`)."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)
    accuracy: NonNegative = 30
    speed: NonNegative = 25
    cost: NonNegative = 25
    responsiveness: NonNegative = 20

    @model_validator(mode="after")
    def _some_weight(self) -> Weights:
        for name, value in self.declared().items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: a weight is a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: a weight is a number of 0 or more")
        total = self.accuracy + self.speed + self.cost + self.responsiveness
        if total + sum(self.declared().values()) <= 0:
            raise ValueError("at least one weight must be above 0")
        return self

    def declared(self) -> dict[str, float]:
        """The weights of declared KPIs, by KPI name."""
        return dict(self.model_extra or {})

    def of(self, dimension: str) -> float:
        """The weight of a built-in dimension or a declared KPI (0 when not weighted)."""
        return float(getattr(self, dimension, None) or self.declared().get(dimension, 0.0))


class Bands(_Frozen):
    accuracy: Band = Band(floor=0.95, target=0.995)
    speed: Band = Band(floor=0.80, target=0.98)
    cost: Band = Band(floor=1.10, target=0.60)
    responsiveness: Band = Band(floor=0.70, target=0.95)


class Standings(_Frozen):
    excellent: float = 85
    good: float = 70
    watch: float = 50

    @model_validator(mode="after")
    def _ordered(self) -> Standings:
        if not self.excellent > self.good > self.watch:
            raise ValueError("thresholds must satisfy excellent > good > watch")
        return self


class ScoringConfig(_Frozen):
    weights: Weights = Weights()
    bands: Bands = Bands()
    standings: Standings = Standings()
    governance_overhead: NonNegative = 0.10
    """Share added to an outsourced cost per unit for managing the vendor (TCO)."""
    min_rank_items: Annotated[int, Field(ge=0)] = 30
    """A vendor ranks only with at least this many work items completed in the period."""
    significance_z: Annotated[float, Field(gt=0)] = 2.576
    """|z| of a two-proportion test beyond which a period-on-period change counts as real (1 %)."""
    median_turnaround: bool = False
    """Compute the median turnaround beside the mean: exact, but the database sorts every
    completed item (DuckDB at 1M work items: 0.2 s -> 2.2 s, memory growing with the rows)."""


class ResponseTargets(_Frozen):
    """Hours within which a request of each priority should get its first response."""

    urgent: Positive = 1
    high: Positive = 4
    normal: Positive = 24
    low: Positive = 72

    def hours(self) -> dict[str, float]:
        return {p: getattr(self, p) for p in PRIORITIES}


class InHouseCostModel(_Frozen):
    """Fully loaded cost of doing one unit in-house, per FTE and year, in the base currency."""

    salary: NonNegative
    benefits_pct: NonNegative = 0.0
    training: NonNegative = 0.0
    workspace: NonNegative = 0.0
    tools: NonNegative = 0.0
    management_overhead_pct: NonNegative = 0.0
    productive_hours: Positive
    units_per_hour: Positive

    def cost_per_unit(self) -> float:
        per_fte = (
            self.salary * (1 + self.benefits_pct) + self.training + self.workspace + self.tools
        )
        loaded = per_fte * (1 + self.management_overhead_pct)
        return loaded / (self.productive_hours * self.units_per_hour)


_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

PORTFOLIO_SECONDS_PER_VENDOR = 1.0
"""What the portfolio pack's render limit grows by per vendor, when it is not set (reports)."""
_LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}
_LOGO_MAX_BYTES = 512 * 1024


def _relative_luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@functools.cache
def _logo_data_uri(path: Path) -> str:
    """Read and encoded once per process, not once per document."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"reports.logo: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > _LOGO_MAX_BYTES:
        raise ConfigError(
            f"reports.logo: {path} is {len(data) // 1024} KiB; use a logo under "
            f"{_LOGO_MAX_BYTES // 1024} KiB (it is embedded in every document)"
        )
    media_type = _LOGO_TYPES[path.suffix.lower()]
    if media_type != "image/svg+xml":
        _check_logo_pixels(path, data)
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


# Every render decodes the logo whole: 12,000 x 12,000 pixels (a 140 KiB PNG) took 1.28 GiB
# in each render process. 4 megapixels is twenty times what a printed logo needs.
_LOGO_MAX_PIXELS = 4_000_000


def _check_logo_pixels(path: Path, data: bytes) -> None:
    """Refuse a PNG or JPEG whose pixels (not bytes) are too many; only its header is read."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: refused below
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception as exc:  # Pillow's errors have no common base: any means unreadable
        raise ConfigError(
            f"reports.logo: {path} is not a readable {path.suffix.lstrip('.').upper()} image "
            f"({type(exc).__name__})"
        ) from None
    if width * height > _LOGO_MAX_PIXELS:
        raise ConfigError(
            f"reports.logo: {path} is {width:,} x {height:,} pixels; use a logo of at most "
            f"{_LOGO_MAX_PIXELS // 1_000_000} megapixels, e.g. 1,200 x 400 "
            "(every render decodes it whole)"
        )


def _check_template_syntax(folder: Path) -> None:
    """Every template of the company's folder parses: a syntax error is one line naming the
    file and the line, when the config is read, not a traceback in a render process."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    parser = SandboxedEnvironment()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"reports.template_dir: cannot read {path}: {exc}") from None
        try:
            parser.parse(source, path.name, str(path))
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"reports.template_dir: {path}, line {exc.lineno}: {exc.message}"
            ) from None


class ReportsConfig(_Frozen):
    company_name: str | None = None
    """Shown on every page: the title block, the running footer, the document's author."""
    logo: str | None = None
    """A PNG, JPEG or SVG file (relative to the config file), embedded in the documents, never fetched."""
    accent_colour: str = "#0f2d4a"
    """Headings and table headers; white text sits on it, so it must be dark enough (4.5:1)."""
    template_dir: str | None = None
    """A folder of templates that override the built-in ones of the same name (relative to the config file)."""
    locale: str | None = None
    """Numbers, money and dates formatted for this locale (Babel: "de_DE", "fr", "en_GB"); none: 1,234.5 and ISO dates."""
    min_sample_items: Annotated[int, Field(ge=1)] = 30
    """A score resting on fewer items (or requests, or checked units) is flagged as a small sample."""
    vendor_facing: bool = True
    """Also render a variant of each scorecard that is safe to send to the vendor."""
    workers: Annotated[int, Field(ge=0, le=256)] = 0
    """Processes rendering the vendor scorecards; 0 means one per core."""
    list_unranked_up_to: Annotated[int, Field(ge=0)] = 40
    """The pack lists the vendors it does not rank (too little activity, none this period, or
    never scored) one by one up to this many; beyond it, it counts them and lists the ranked."""
    render_timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] = 300
    """Longest time one vendor's scorecards may take to render; beyond it that document is left
    out, the rest of the run goes on, and the run exits 1 naming it."""
    portfolio_render_timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None
    """Longest time the portfolio pack may take; unset: render_timeout_seconds plus one second
    per vendor in the pack (its length grows with the vendors, a scorecard's does not)."""

    def portfolio_timeout(self, vendors: int) -> float:
        """The pack's render limit for a run of this many vendors (see the key above)."""
        if self.portfolio_render_timeout_seconds is not None:
            return self.portfolio_render_timeout_seconds
        return self.render_timeout_seconds + PORTFOLIO_SECONDS_PER_VENDOR * vendors

    @field_validator("accent_colour")
    @classmethod
    def _readable_accent(cls, value: str) -> str:
        if not _HEX_COLOUR.match(value):
            raise ValueError(f"{value!r} is not a colour in the form #1f4e79")
        contrast = 1.05 / (_relative_luminance(value) + 0.05)
        if contrast < 4.5:
            raise ValueError(
                f"{value} is too light for the white text on it (contrast {contrast:.1f}:1, "
                "at least 4.5:1 is needed): choose a darker shade"
            )
        return value.lower()

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            raise ValueError(
                f"{value!r} is not a locale Babel knows (e.g. de_DE, fr, en_GB)"
            ) from None
        return value.replace("-", "_")

    @field_validator("logo")
    @classmethod
    def _logo_type(cls, value: str | None) -> str | None:
        if value is not None and Path(value).suffix.lower() not in _LOGO_TYPES:
            raise ValueError(f"{value!r} is not a .png, .jpg or .svg file")
        return value

    def logo_data_uri(self, base: Path) -> str:
        """The logo as a data: URI (documents embed it; the renderer fetches nothing)."""
        return "" if self.logo is None else _logo_data_uri((base / self.logo).resolve())

    def template_folder(self, base: Path) -> Path | None:
        if self.template_dir is None:
            return None
        folder = base / self.template_dir
        if not folder.is_dir():
            raise ConfigError(f"reports.template_dir: {folder} is not a folder")
        _check_template_syntax(folder)
        return folder


class EmailConfig(_Frozen):
    smtp_host: str = "localhost"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    security: Literal["none", "starttls", "ssl"] = "none"
    username_env: str | None = None
    password_env: str | None = None
    sender: EmailAddress = "scorecard@localhost"
    portfolio_recipients: tuple[EmailAddress, ...] = ()
    vendor_contacts: dict[str, EmailAddress] = Field(default_factory=dict)
    """vendor_id -> an address at the vendor, who gets the vendor-facing scorecard."""
    timeout_seconds: Positive = 30
    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    """Tries per message for transient failures (refused connection, 4xx); 5xx is never retried."""
    retry_delay_seconds: NonNegative = 2.0
    """Wait before the second try; doubled before each further one."""
    reply_to: EmailAddress | None = None
    """Where replies go (Reply-To), e.g. the vendor management team; unset: to the sender."""
    max_attachment_mb: Positive = 10
    """Largest attachment a message carries; a bigger one is left out and the email says where it is."""
    link_base: str | None = None
    """Where readers find the run folders (a share or intranet URL), named when a file is not attached."""
    send: Literal["period_close", "nightly"] = "period_close"
    """The cadence: period_close sends each period's scorecards once, from the run that closes
    it, plus an alert on a night when something real happened; nightly sends one message a
    night per recipient, never the same content twice."""
    alert_standing_margin: NonNegative = 2.0
    """period_close: a change of standing alerts only when the composite is this many points
    past the edge of the band last sent, so a score drifting across an edge on noise does not."""
    alert_standing_nights: Annotated[int, Field(ge=1, le=31)] = 3
    """period_close: ...and only once the new standing has held this many runs in a row..."""
    alert_standing_share: Annotated[float, Field(ge=0, le=1)] = 0.33
    """...and the period holds this share of the work items the previous period completed."""


class OutputConfig(_Frozen):
    """What the output folder keeps (contract section 11)."""

    keep_days: Annotated[int, Field(ge=1)] = 35
    """Run folders and email journals older than this before the newest as-of day are deleted."""
    keep_closed_periods: Annotated[int, Field(ge=0)] = 8
    """...except the runs that closed the newest this many periods."""


ConditionValue = str | bool | int | float
_OPERATORS = ("at_least", "at_most", "equals", "in", "not_null", "is_true")


class Condition(_Frozen):
    """A test of one column, as data (never SQL text): `column` and exactly one operator, or
    `all = [..]`, their conjunction (contract section 10)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True
    )
    column: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    equals: ConditionValue | None = None
    in_: tuple[ConditionValue, ...] | None = Field(default=None, alias="in", min_length=1)
    not_null: Literal[True] | None = None
    is_true: Literal[True] | None = None
    all: Annotated[tuple[Condition, ...], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [op for op in _OPERATORS if getattr(self, "in_" if op == "in" else op) is not None]
        if self.all is not None:
            if self.column is not None or given:
                raise ValueError("all = [..] stands alone: give no column or operator beside it")
            return self
        if self.column is None:
            raise ValueError("a condition names a column (or is all = [..])")
        if len(given) != 1:
            found = f" (found {', '.join(given)})" if given else ""
            raise ValueError(
                "give exactly one of at_least, at_most, equals, in, not_null = true, "
                f"is_true = true{found}"
            )
        return self

    def columns(self) -> list[str]:
        """Every column the condition reads."""
        if self.all is not None:
            return [name for part in self.all for name in part.columns()]
        return [self.column] if self.column is not None else []


class MeanValue(_Frozen):
    """The value a mean KPI averages: a column, times `scale` (e.g. seconds -> minutes)."""

    column: Annotated[str, Field(min_length=1)]
    scale: Annotated[float, Field(gt=0)] = 1.0


# When a row counts in a period, per table (contract section 10).
COUNTED_WHEN = {"work_items": ("completed", "due", "received"), "requests": ("opened",)}


class DeclaredKpi(_Frozen):
    """A KPI the company declares: a rate (successes / trials) or a mean of a value."""

    title: str | None = None
    unit: str | None = None
    """For a mean: what its value is in ("minutes"); a rate is a percentage."""
    table: Literal["work_items", "requests"] = "work_items"
    counted_when: Literal["completed", "due", "received", "opened"] | None = None
    kind: Literal["rate", "mean"]
    trial: Condition | None = None
    success: Condition | None = None
    value: MeanValue | None = None
    floor: float
    target: float

    @model_validator(mode="after")
    def _complete(self) -> DeclaredKpi:
        if self.counted_when is not None and self.counted_when not in COUNTED_WHEN[self.table]:
            allowed = " | ".join(COUNTED_WHEN[self.table])
            raise ValueError(f"counted_when: {self.table} rows are counted when {allowed}")
        if self.kind == "rate":
            for key in ("trial", "success"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key}: a rate needs trial and success conditions")
            if self.value is not None:
                raise ValueError('value: goes with kind = "mean"; a rate has trial and success')
            if self.floor > 1 or self.target > 1 or self.floor < 0 or self.target < 0:
                key = "floor" if not 0 <= self.floor <= 1 else "target"
                raise ValueError(f"{key}: a rate is a fraction 0-1 (0.9 means 90 %)")
        else:
            if self.value is None:
                raise ValueError("value: a mean needs value = { column = .., scale = .. }")
            for key in ("trial", "success"):
                if getattr(self, key) is not None:
                    raise ValueError(f'{key}: goes with kind = "rate"; a mean has a value')
        if self.floor == self.target:
            raise ValueError(
                "target: floor and target must differ (their order gives the direction)"
            )
        return self

    @property
    def when(self) -> str:
        """counted_when, defaulting to completed (work items) or opened (requests)."""
        return self.counted_when or COUNTED_WHEN[self.table][0]

    @property
    def higher_is_better(self) -> bool:
        return self.target > self.floor

    def columns(self) -> list[tuple[str, str]]:
        """(key, column) of every column the KPI reads."""
        found: list[tuple[str, str]] = []
        for key in ("trial", "success"):
            condition = getattr(self, key)
            if condition is not None:
                found += [(key, name) for name in condition.columns()]
        if self.value is not None:
            found.append(("value", self.value.column))
        return found


class ServiceLevel(_Frozen):
    """One level of a contract: a KPI of one process (or ALL) against a minimum or maximum."""

    name: Annotated[str, Field(min_length=1)]
    process: Annotated[str, Field(min_length=1)]
    """A process name, or "ALL" for the vendor-level row."""
    kpi: Annotated[str, Field(min_length=1)]
    """A built-in KPI or a declared one: which are allowed, and which way is better, is the
    KPI catalogue's to say (scoring.catalogue.check_config)."""
    minimum: NonNegative | None = None
    maximum: NonNegative | None = None
    allocation_pct: Annotated[float, Field(gt=0, le=100)]
    """Share (in %) of the month's at-risk amount a miss of this level costs."""

    @model_validator(mode="after")
    def _one_threshold(self) -> ServiceLevel:
        if (self.minimum is None) == (self.maximum is None):
            raise ValueError("give exactly one of minimum or maximum")
        return self

    @property
    def threshold(self) -> float:
        return self.minimum if self.minimum is not None else self.maximum  # type: ignore[return-value]

    @property
    def higher_is_better(self) -> bool:
        return self.minimum is not None


class Contract(_Frozen):
    """A vendor's contract terms: the share of fees at risk and the levels that put it at risk."""

    at_risk_pct: Fraction
    """Share of the month's fees at risk (0.12 = 12 %)."""
    earn_back_months: Annotated[int, Field(ge=0, le=24)] = 0
    """A credit is earned back when the level is met in each of this many measured months after it."""
    service_levels: Annotated[tuple[ServiceLevel, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> Contract:
        names = [level.name for level in self.service_levels]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"service_levels: the name {duplicated[0]!r} is used twice")
        return self


class EvidenceConfig(_Frozen):
    """The items behind every missed service level (contract section 12)."""

    max_items: Annotated[int, Field(ge=1)] = 1000
    """Most items listed per vendor x service level x month; a "more" row counts the rest."""


class Config(_Frozen):
    database: DatabaseConfig = DatabaseConfig()
    run: RunConfig = RunConfig()
    currency: CurrencyConfig = CurrencyConfig()
    scoring: ScoringConfig = ScoringConfig()
    response_targets_hours: ResponseTargets = ResponseTargets()
    in_house: dict[str, InHouseCostModel] = Field(default_factory=dict)
    """The in-house cost model per process."""
    source: dict[Literal["vendors", "work_items", "requests", "charges"], TableSource] = Field(
        default_factory=dict
    )
    """Bring your own schema: a mapping or a query per canonical table."""
    reports: ReportsConfig = ReportsConfig()
    contracts: dict[str, Contract] = Field(default_factory=dict)
    """vendor_id -> its contract's service levels and credits (contract section 9)."""
    evidence: EvidenceConfig = EvidenceConfig()
    kpis: dict[str, DeclaredKpi] = Field(default_factory=dict)
    """KPIs the company declares, in the order their columns come in scores.csv (section 10)."""
    email: EmailConfig = EmailConfig()
    output: OutputConfig = OutputConfig()
    source_path: str | None = Field(default=None, exclude=True)
    origin: str = Field(default="", exclude=True)
    """One line for the run's log: which file the config came from, and why that one."""

    @model_validator(mode="after")
    def _mapped_columns_exist(self) -> Config:
        from scorecard.schema import TABLES

        for name, spec in self.source.items():
            known = {c.name for c in TABLES[name].columns}
            for key, named in (
                ("columns", spec.columns),
                ("values", spec.values),
                ("formats", spec.formats),
            ):
                # A value map may also translate an extra column's values.
                unknown = sorted(
                    set(named) - known - (set(spec.extra) if key == "values" else set())
                )
                if unknown:
                    raise ValueError(
                        f"source.{name}.{key}: {', '.join(unknown)} is not a column of {name}"
                    )
            timed = {
                c.name for c in TABLES[name].columns if c.type.python_type in (dt.date, dt.datetime)
            }
            untimed = sorted(set(spec.formats) - timed)
            if untimed:
                raise ValueError(
                    f"source.{name}.formats: {untimed[0]} is not a timestamp or date column"
                )
            if spec.absent and name == "work_items":
                raise ValueError(
                    f"source.{name}: absent = true is not allowed: work items are what is scored"
                )
            if spec.from_activity and name != "vendors":
                raise ValueError(f"source.{name}: from_activity = true is for vendors only")
        return self

    @model_validator(mode="after")
    def _declared_kpis_readable(self) -> Config:
        from scorecard.schema import TABLES

        for name, spec in self.source.items():
            clash = sorted(set(spec.extra) & {c.name for c in TABLES[name].columns})
            if clash:
                raise ValueError(
                    f"source.{name}.extra.{clash[0]}: {clash[0]} is a canonical column of "
                    f"{name}; give the extra column another name"
                )
        for kpi_name, kpi in self.kpis.items():
            if not _NAME.match(kpi_name):
                raise ValueError(
                    f"kpis.{kpi_name}: a KPI name is lower-case letters, digits and _ "
                    "(starting with a letter), as it becomes a column of scores.csv"
                )
            source = self.source.get(kpi.table)
            extra = source.extra if source is not None else {}
            known = {c.name for c in TABLES[kpi.table].columns} | set(extra)
            for key, column_name in kpi.columns():
                if column_name not in known:
                    close = nearest(column_name, known)
                    hint = f"; did you mean {close!r}?" if close else ""
                    raise ValueError(
                        f"kpis.{kpi_name}.{key}: {column_name!r} is not a column of "
                        f"{kpi.table} nor one of its [source.{kpi.table}.extra] columns{hint}"
                    )
            for key in ("trial", "success"):
                condition = getattr(kpi, key)
                if condition is not None:
                    _check_condition_types(condition, f"kpis.{kpi_name}.{key}", kpi.table, extra)
            if kpi.value is not None:
                numeric = {"integer", "number"}
                typed = extra.get(kpi.value.column)
                canonical_numbers = {"units", "qa_checked_units", "defects"}
                if (typed is not None and typed.type not in numeric) or (
                    typed is None and kpi.value.column not in canonical_numbers
                ):
                    raise ValueError(
                        f"kpis.{kpi_name}.value: {kpi.value.column!r} is not a number column "
                        "(an extra column of type integer or number, or units)"
                    )
        for weight in self.scoring.weights.declared():
            if weight not in self.kpis:
                close = nearest(weight, [*DIMENSIONS, *self.kpis])
                hint = f"; did you mean {close}?" if close else ""
                raise ValueError(
                    f"scoring.weights.{weight}: no dimension and no declared KPI "
                    f"(a [kpis.{weight}] section) has that name{hint}"
                )
        return self

    @model_validator(mode="after")
    def _report_files_exist(self) -> Config:
        # Checked when the config is read (and by `check`), not after an hour of extraction.
        try:
            self.reports.logo_data_uri(self.base_dir)
            self.reports.template_folder(self.base_dir)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None  # the message names its key already
        return self

    @property
    def source_file(self) -> str | None:
        """The config file this came from, as named; None for the defaults or a mapping."""
        if self.source_path and self.source_path not in ("defaults", "config"):
            return self.source_path
        return None

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config (logo, templates) are read from."""
        if self.source_file:
            return Path(self.source_file).resolve().parent
        return Path.cwd()

    def with_overrides(self, origin: str = "", **run: Any) -> Config:
        """This config with [run] keys replaced (the command line's --period, --format, --out),
        validated as if the file had said so; an option's error names the option."""
        changes = {key: value for key, value in run.items() if value is not None}
        try:
            settings = RunConfig.model_validate({**self.run.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            option = _OPTIONS.get(str(first["loc"][0]), f"run.{first['loc'][0]}")
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{option}: {message}") from None
        return self.model_copy(update={"run": settings, "origin": origin or self.origin})

    def public_dict(self) -> dict[str, Any]:
        """The config as recorded in the manifest: no URL (it may carry credentials)."""
        data = self.model_dump(mode="json")
        # Where the run was written is the folder the manifest is in; recorded, the same run
        # written to two folders would differ by more than its place.
        del data["run"]["output_dir"]
        data["database"] = {
            "url_env": self.database.url_env,
            "url": "(not recorded)",
            "statement_timeout_seconds": self.database.statement_timeout_seconds,
        }
        return data


def _column_type(table: str, name: str, extra: dict[str, ExtraColumn]) -> str:
    """integer, number, boolean, text or timestamp: an extra column's declared type, or what
    the canonical column holds."""
    from scorecard.schema import TABLES

    if name in extra:
        return extra[name].type
    python_type = TABLES[table].columns[name].type.python_type
    if python_type is bool:
        return "boolean"
    if python_type is int:
        return "integer"
    if python_type is str:
        return "text"
    if python_type in (dt.date, dt.datetime):
        return "timestamp"
    return "number"


def _check_condition_types(
    condition: Condition, key: str, table: str, extra: dict[str, ExtraColumn]
) -> None:
    """A value the column can hold: a number for a number column, text for text, true or false
    for a boolean (compared otherwise, some databases refuse the query and others never match)."""
    if condition.all is not None:
        for index, part in enumerate(condition.all):
            _check_condition_types(part, f"{key}.all.{index}", table, extra)
        return
    assert condition.column is not None
    kind = _column_type(table, condition.column, extra)
    numeric = kind in ("integer", "number")
    if (condition.at_least is not None or condition.at_most is not None) and not numeric:
        op = "at_least" if condition.at_least is not None else "at_most"
        raise ValueError(f"{key}.{op}: {condition.column} is {kind}, not a number")
    if condition.is_true is not None and kind != "boolean":
        raise ValueError(f"{key}.is_true: {condition.column} is {kind}, not a boolean")
    values = [condition.equals] if condition.equals is not None else list(condition.in_ or ())
    for value in values:
        fits = (
            isinstance(value, bool)
            if kind == "boolean"
            else isinstance(value, str)
            if kind == "text"
            else numeric and isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not fits:
            op = "equals" if condition.equals is not None else "in"
            raise ValueError(
                f"{key}.{op}: {value!r} cannot be a value of {condition.column} ({kind})"
            )


# The command-line option behind each [run] key it overrides, for its error messages.
_OPTIONS = {
    "period": "--period",
    "formats": "--format",
    "output_dir": "--out",
    "scorecards": "--scorecards",
}


def _key_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _unknown_key(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """An unknown key's path as the file writes it, and the message: the key of the model at
    that place spelled most like it, if any is close.

    pydantic's location also names the member of a union it tried (columns.name's
    "function-after[_one_of(), ColumnConstant]"): the walk through the models drops it.
    """
    at: Any = Config
    path: list[int | str] = []
    for part in loc[:-1]:
        at, is_key = _step(at, part)
        if is_key:
            path.append(part)
    path.append(loc[-1])
    known = (
        [name for name, field in at.model_fields.items() if not field.exclude]
        if isinstance(at, type) and issubclass(at, BaseModel)
        else []
    )
    if close := nearest(str(loc[-1]), known):
        return _key_path(tuple(path)), f"unknown key; did you mean {close}?"
    return _key_path(tuple(path)), (
        "unknown key, and no key of this section is spelled like it: check the section"
    )


def _step(at: Any, part: int | str) -> tuple[Any, bool]:
    """The type one step of a location further in (None where it cannot be followed), and
    whether that step is a key of the file rather than the name of a union's member."""
    while get_origin(at) is Annotated:
        at = get_args(at)[0]
    if isinstance(at, type) and issubclass(at, BaseModel):
        field = at.model_fields.get(str(part))
        return (field.annotation if field is not None else None), True
    if get_origin(at) is dict:
        return get_args(at)[1], True
    if get_origin(at) is tuple:
        return get_args(at)[0], True
    if get_origin(at) in (Union, UnionType):
        models = [a for a in get_args(at) if isinstance(a, type) and issubclass(a, BaseModel)]
        named = [m for m in models if isinstance(part, str) and m.__name__ in part]
        if named:
            return named[0], False
        if len(models) == 1:
            return _step(models[0], part)
    return None, True


def config_from_mapping(data: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate({**data, "source_path": source, "origin": f"config: {source}"})
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also leaves the right one missing: the misspelling is what to show.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = _key_path(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            key, message = _unknown_key(first["loc"])
        # A whole-config rule names its own key in its message.
        raise ConfigError(
            f"{source}: {key}: {message}" if key else f"{source}: {message}"
        ) from None


def read_config(path: str | os.PathLike[str] | None) -> Config:
    """Read and validate the TOML file; no file means every default."""
    if path is None:
        return config_from_mapping({}, "defaults")
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return config_from_mapping(data, str(file))


def find_config_file(
    cli_path: str | os.PathLike[str] | None, named_by: str = "--config"
) -> tuple[Path | None, str]:
    """Where the config comes from, the way other tools find theirs, and why.

    --config (or, from Python, load_config's path: `named_by` says which), else the file
    SCORECARD_CONFIG names, else ./scorecard.toml, else the built-in defaults. A file named
    explicitly must exist; ./scorecard.toml is optional.
    """
    if cli_path:
        return Path(cli_path), named_by
    if from_env := os.environ.get(CONFIG_ENV):
        return Path(from_env), CONFIG_ENV
    local = Path(CONFIG_FILE_NAME)
    if local.is_file():
        return local, f"./{CONFIG_FILE_NAME} in the working folder"
    return None, f"no --config, no {CONFIG_ENV}, no ./{CONFIG_FILE_NAME}"


def discover_config(cli_path: str | os.PathLike[str] | None, named_by: str = "--config") -> Config:
    """The validated config, its `origin` one line saying which file it came from (for the log)."""
    path, origin = find_config_file(cli_path, named_by)
    config = read_config(path)
    if path is None:
        return config.with_overrides(f"config: built-in defaults ({origin})")
    return config.with_overrides(f"config: {path} (from {origin})")


def resolve_database_url(cli_url: str | None, config: Config) -> str:
    """--database-url, else SCORECARD_DATABASE_URL, else the config (url_env, then url)."""
    candidates: list[tuple[str, str | None]] = [
        ("--database-url", cli_url),
        (DATABASE_URL_ENV, os.environ.get(DATABASE_URL_ENV)),
    ]
    if config.database.url_env:
        candidates.append((config.database.url_env, os.environ.get(config.database.url_env)))
    candidates.append(("database.url", config.database.url))
    for origin, value in candidates:
        if value:
            try:
                parse_url(value)
            except RenamedScheme as exc:
                raise ConfigError(f"{origin}: {exc}") from None
            except ArgumentError:
                raise ConfigError(f"{origin}: not a SQLAlchemy database URL") from None
            return value
    raise ConfigError(f"no database URL: {_where_the_url_goes(config)}")


def _where_the_url_goes(config: Config) -> str:
    """What to do when no URL was found, said of the config file the run actually read."""
    what = "your database's SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db)"
    named = config.database.url_env
    if named:
        state = "is empty" if os.environ.get(named) == "" else "is not set"
        where = config.source_file or "the config"
        return (
            f"{where} names database.url_env = {named}, which {state}; "
            f"set it to {what}, or pass --database-url"
        )
    if config.source_file:
        return (
            f"{config.source_file} gives neither database.url_env nor database.url; "
            f"set {DATABASE_URL_ENV} to {what}, or pass --database-url"
        )
    return f"pass --database-url, set {DATABASE_URL_ENV}, or give database.url in the config file"
