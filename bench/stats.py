"""Pure statistics over samples: percentiles, summaries, CDF points, the knee of a sweep."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

PERCENTILES = (50, 90, 99)


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile with linear interpolation between closest ranks (numpy's default).

    Raises ValueError on an empty sequence or a p outside [0, 100]: a percentile of nothing is a
    bug in the caller, not a zero.
    """
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside [0, 100]")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples: Iterable[float]) -> dict:
    """count, min, mean, p50, p90, p99, max; an empty sample gives count 0 and nothing else."""
    values = sorted(samples)
    if not values:
        return {"count": 0}
    out = {"count": len(values), "min": values[0], "mean": sum(values) / len(values)}
    for p in PERCENTILES:
        out[f"p{p}"] = percentile(values, p)
    out["max"] = values[-1]
    return out


def cdf(samples: Iterable[float], points: int = 200) -> tuple[list[float], list[float]]:
    """At most `points` (value, fraction <= value) pairs, enough to draw a CDF of any size."""
    values = sorted(samples)
    if not values:
        return [], []
    step = max(1, len(values) // points)
    xs = values[::step]
    ys = [min(1.0, (i * step + 1) / len(values)) for i in range(len(xs))]
    if xs[-1] != values[-1]:
        xs.append(values[-1])
        ys.append(1.0)
    return xs, ys


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, None when either side is missing or theirs is zero."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def knee(steps: Sequence[dict], key: str, limit: float) -> dict | None:
    """The last step of a sweep (ordered by load) whose `key` stays at or under `limit`.

    None when even the first step is over the limit.
    """
    best = None
    for step in steps:
        if step[key] > limit:
            break
        best = step
    return best
