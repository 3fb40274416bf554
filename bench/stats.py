"""Percentiles and latency summaries (pure functions, no I/O)."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linearly interpolated
    between the two nearest ranks (numpy's default method).

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside 0..100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_ms(values_ms: Sequence[float]) -> dict:
    """``{"n", "mean", "p50", "p95", "p99", "max"}`` of durations in milliseconds
    (rounded to 0.01 ms); ``{"n": 0}`` when there are none."""
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "mean": round(statistics.fmean(values_ms), 2),
        "p50": round(percentile(values_ms, 50), 2),
        "p95": round(percentile(values_ms, 95), 2),
        "p99": round(percentile(values_ms, 99), 2),
        "max": round(max(values_ms), 2),
    }


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base``, or None when either is missing or ``base`` is 0."""
    if value is None or base is None or base == 0:
        return None
    return value / base
