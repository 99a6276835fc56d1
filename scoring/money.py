"""Money, exactly: amounts as exact decimals, spread shares as exact fractions, rounded once.

Money is never summed as binary floats: the order in which a multithreaded
group-by adds floats changes the last bit, and an amount on a midpoint of its
last written decimal (620.05 / 8 = 77.50625) then comes out either way. Here
every amount is the exact decimal it was written as, a charge spread over its
service days is the exact fraction `amount x rate x days in / days billed`, and
sums, per-unit costs, cost ratios and savings are exact fractions. A figure is
rounded once, when it is written, by one rule: **half to even at the written
precision** (money 2 decimals, per-unit costs 4, ratios 6), so a rerun and
every engine give the same bytes.

Amounts arrive as floats (the drivers' decimals are read as floats): the exact
decimal is the shortest one that reads back as the same float, which is the
amount as stored for any amount of at most 15 significant digits (below
ten thousand billion with two decimals). Exchange rates and other configured
decimals are read the same way: `0.0118` is exactly 118/10000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

import polars as pl

# The written precision of each kind of money figure (decimals).
MONEY_PLACES = 2
PER_UNIT_PLACES = 4
RATIO_PLACES = 6

# Every money column the job writes, and its written precision: a CSV prints each with
# exactly that many decimals (13797.00, 0.00; never 13797.0), as `written` rounded it.
# Ratios (cost_ratio) are not money and print as they are.
WRITTEN_MONEY_PLACES: dict[str, int] = {
    # scores.csv (contract section 5)
    "spend": MONEY_PLACES, "savings_vs_in_house": MONEY_PLACES,
    "cost_per_unit": PER_UNIT_PLACES, "tco_per_unit": PER_UNIT_PLACES,
    "in_house_cost_per_unit": PER_UNIT_PLACES,
    # service_credits.csv and credit_claims.csv (contract sections 9 and 12)
    "fees": MONEY_PLACES, "at_risk_amount": MONEY_PLACES, "credit": MONEY_PLACES,
    "credit_due": MONEY_PLACES, "credited": MONEY_PLACES, "unclaimed": MONEY_PLACES,
}  # fmt: skip


def exact(value: float | int | Decimal | str) -> Fraction:
    """The exact decimal a number was written as (a float by its shortest repr)."""
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def exact_rates(rates: Mapping[str, float]) -> dict[str, Fraction]:
    return {currency: exact(rate) for currency, rate in rates.items()}


def ratio(numerator: Fraction | None, denominator: Fraction | int | None) -> Fraction | None:
    """numerator / denominator; None with a zero or missing denominator (never 0, never an error)."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return Fraction(numerator) / denominator


def written(value: Fraction | None, places: int) -> float | None:
    """The figure as written: rounded half to even at `places` decimals, once.

    Returned as the float nearest that decimal, whose shortest repr is the decimal itself.
    """
    if value is None:
        return None
    # The fraction itself is rounded, never a decimal approximation of it.
    scaled = value * 10**places
    whole, rest = divmod(scaled.numerator, scaled.denominator)  # floor, rest >= 0
    twice = 2 * rest
    if twice > scaled.denominator or (twice == scaled.denominator and whole % 2 == 1):
        whole += 1
    return float(Decimal(whole).scaleb(-places))


def spread_share(
    amount: Fraction,
    service_start: dt.date,
    service_end: dt.date,
    first_day: dt.date,
    last_day: dt.date,
) -> Fraction:
    """The part of a charge that falls on first_day..last_day: an exact share of its service days."""
    first = max(service_start, first_day)
    last = min(service_end, last_day)
    days_in = max((last - first).days + 1, 0)
    days_billed = (service_end - service_start).days + 1
    return amount * days_in / days_billed


def spread_totals(
    charges: pl.DataFrame,
    first_day: dt.date,
    last_day: dt.date,
    rates: Mapping[str, Fraction],
    keys: Sequence[str],
) -> dict[tuple[Hashable, ...], Fraction]:
    """Per `keys`: the charges spread over first_day..last_day, in the base currency, exactly.

    Only the charges whose service days touch that range are listed (a key with
    none is absent, not 0). Validation has rejected every currency without a rate.
    """
    touching = charges.filter(
        (pl.col("service_start") <= last_day) & (pl.col("service_end") >= first_day)
    ).select(*keys, "amount", "currency", "service_start", "service_end")
    totals: dict[tuple[Hashable, ...], Fraction] = {}
    width = len(keys)
    for row in touching.iter_rows():
        key = tuple(row[:width])
        amount, currency, start, end = row[width:]
        share = spread_share(exact(amount) * rates[currency], start, end, first_day, last_day)
        totals[key] = totals.get(key, Fraction(0)) + share
    return totals
