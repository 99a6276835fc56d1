"""Why a score moved: a composite's change split exactly into its dimensions' contributions.

The composite is the weighted mean of the dimension scores that are not null
(contract section 4), so a dimension can move it by changing its score, and
also by coming (scored now, not before) or going (scored before, not now),
which changes the weights of the others. With B the dimensions scored in both
periods, N those scored only now, G those scored only before, W0 and W1 the
weights present before and now, and C0B the earlier composite over B alone:

- d in B: w_d / W1 x (now_d - before_d)
- d in N: w_d / W1 x (now_d - C0B)      (it pulls the composite towards its score)
- d in G: w_d / W0 x (C0B - before_d)   (its pull is gone)

Their sum is now - before exactly (the arithmetic is done in fractions, so it is
exact to the last digit, not to a float's rounding).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction


def weighted_mean(
    scores: Mapping[str, float | None], weights: Mapping[str, float]
) -> Fraction | None:
    """The composite of section 4, exactly: None when no dimension is scored."""
    present = {d: Fraction(s) for d, s in scores.items() if s is not None}
    total = sum((Fraction(weights[d]) for d in present), Fraction(0))
    if not present or total == 0:
        return None
    return sum((Fraction(weights[d]) * s for d, s in present.items()), Fraction(0)) / total


def contributions(
    now: Mapping[str, float | None],
    before: Mapping[str, float | None],
    weights: Mapping[str, float],
) -> dict[str, Fraction] | None:
    """Each dimension's share of weighted_mean(now) - weighted_mean(before); None when either
    period has no score (there is no change to split). Dimensions scored in neither are left out."""
    scored_now = {d: Fraction(s) for d, s in now.items() if s is not None and weights.get(d)}
    scored_before = {d: Fraction(s) for d, s in before.items() if s is not None and weights.get(d)}
    if not scored_now or not scored_before:
        return None
    w = {d: Fraction(weights[d]) for d in {*scored_now, *scored_before}}
    w_now = sum((w[d] for d in scored_now), Fraction(0))
    w_before = sum((w[d] for d in scored_before), Fraction(0))
    both = [d for d in scored_now if d in scored_before]
    w_both = sum((w[d] for d in both), Fraction(0))
    common_before = (
        sum((w[d] * scored_before[d] for d in both), Fraction(0)) / w_both if both else Fraction(0)
    )
    parts: dict[str, Fraction] = {}
    for d in sorted({*scored_now, *scored_before}):
        if d in scored_now and d in scored_before:
            parts[d] = w[d] / w_now * (scored_now[d] - scored_before[d])
        elif d in scored_now:
            parts[d] = w[d] / w_now * (scored_now[d] - common_before)
        else:
            parts[d] = w[d] / w_before * (common_before - scored_before[d])
    return parts


def apportioned(parts: Mapping[str, Fraction], total: int) -> dict[str, int]:
    """Whole points per dimension that add up to `total` exactly (the change as shown).

    Largest remainder: each part rounded down, then the points still missing go to the
    largest remainders (or, when there are too many, come off the smallest), ties to the
    dimension listed first.
    """
    if not parts:
        return {}
    floors = {d: int(p // 1) for d, p in parts.items()}
    left = total - sum(floors.values())
    order = sorted(parts, key=lambda d: -(parts[d] - floors[d]))
    shares = dict(floors)
    while left > 0:
        for d in order[:left]:
            shares[d] += 1
        left -= min(left, len(order))
    while left < 0:
        for d in reversed(order):
            if left == 0:
                break
            shares[d] -= 1
            left += 1
    return shares
