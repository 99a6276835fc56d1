"""Why a score moved: the composite's change split exactly into its dimensions' contributions."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from reports.vendor import why_moved
from scoring.attribution import apportioned, contributions, weighted_mean

WEIGHTS = {"accuracy": 30.0, "speed": 25.0, "cost": 25.0, "responsiveness": 20.0}
DIMS = list(WEIGHTS)


def _row(scores: dict[str, float | None], composite: float | None = None) -> dict[str, object]:
    row: dict[str, object] = {f"{d}_score": scores.get(d) for d in DIMS}
    mean = weighted_mean(scores, WEIGHTS)
    row["composite_score"] = composite if composite is not None else (
        None if mean is None else round(float(mean), 2)
    )  # fmt: skip
    return row


def _cases() -> list[tuple[dict[str, float | None], dict[str, float | None]]]:
    rng = random.Random(24)
    cases = []
    for _ in range(300):
        now = {d: None if rng.random() < 0.25 else round(rng.uniform(0, 100), 2) for d in DIMS}
        before = {d: None if rng.random() < 0.25 else round(rng.uniform(0, 100), 2) for d in DIMS}
        cases.append((now, before))
    return cases


@pytest.mark.parametrize(("now", "before"), _cases())
def test_the_contributions_add_up_to_the_change_exactly(now, before):
    parts = contributions(now, before, WEIGHTS)
    after, earlier = weighted_mean(now, WEIGHTS), weighted_mean(before, WEIGHTS)
    if after is None or earlier is None:
        assert parts is None
        return
    assert parts is not None
    assert sum(parts.values(), Fraction(0)) == after - earlier  # exact, not approximately
    # A dimension scored in neither period has no share.
    assert set(parts) == {d for d in DIMS if now[d] is not None or before[d] is not None}


def test_a_dimension_that_came_pulls_the_composite_towards_its_score():
    before = {"accuracy": 80.0, "speed": 60.0, "cost": None, "responsiveness": None}
    now = {"accuracy": 80.0, "speed": 60.0, "cost": None, "responsiveness": 100.0}
    parts = contributions(now, before, WEIGHTS)
    assert parts is not None
    assert parts["accuracy"] == parts["speed"] == 0
    assert parts["responsiveness"] == weighted_mean(now, WEIGHTS) - weighted_mean(before, WEIGHTS)
    assert parts["responsiveness"] > 0


def test_a_dimension_that_went_takes_its_pull_away():
    before = {"accuracy": 100.0, "speed": 100.0, "cost": 0.0, "responsiveness": 100.0}
    now = {"accuracy": 100.0, "speed": 100.0, "cost": None, "responsiveness": 100.0}
    parts = contributions(now, before, WEIGHTS)
    assert parts == {"accuracy": 0, "speed": 0, "responsiveness": 0, "cost": Fraction(25)}


@pytest.mark.parametrize(("now", "before"), _cases()[:100])
def test_the_whole_points_shown_add_up_to_the_change_shown(now, before):
    row, previous = _row(now), _row(before)
    text = why_moved(row, previous, DIMS, WEIGHTS)
    if row["composite_score"] is None or previous["composite_score"] is None:
        assert text == ""
        return
    shown = round(row["composite_score"] - previous["composite_score"])
    points = [int(part.split(" ", 1)[0]) for part in text.split(", ")] if text else []
    assert sum(points) == shown
    # The first named moved it most.
    assert [abs(p) for p in points] == sorted((abs(p) for p in points), reverse=True)


def test_the_scorecard_reads_minus_eight_as_minus_six_on_time_minus_two_accuracy():
    before = {"accuracy": 90.0, "speed": 90.0, "cost": 50.0, "responsiveness": 70.0}
    now = {"accuracy": 82.0, "speed": 58.0, "cost": 50.0, "responsiveness": 70.0}
    row, previous = _row(now), _row(before)
    assert round(row["composite_score"] - previous["composite_score"]) == -10
    assert why_moved(row, previous, DIMS, WEIGHTS) == "-8 on time, -2 accuracy"
    # A dimension that came is named so.
    now_new = {**before, "cost": None}
    assert why_moved(_row(before), _row(now_new), DIMS, WEIGHTS).endswith("cost (new)")


@pytest.mark.parametrize("total", range(-5, 6))
def test_apportioned_always_hits_the_total(total):
    for values in itertools.product([Fraction(-7, 3), Fraction(1, 2), Fraction(5, 4)], repeat=3):
        parts = dict(zip("abc", values, strict=True))
        assert sum(apportioned(parts, total).values()) == total
    assert apportioned({}, 0) == {}
