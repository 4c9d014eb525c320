"""Latency samples → the figures the report quotes (percentiles, throughput)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int
    concurrency: int
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    throughput_rps: float | None  # completed requests ÷ wall time of the measured phase
    response_bytes: int | None  # size of one response body (the last successful one)

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(
    latencies_s: list[float], errors: int, concurrency: int, wall_s: float, response_bytes: int | None
) -> Figures:
    if not latencies_s:
        return Figures(0, errors, concurrency, None, None, None, None, response_bytes)
    ms = np.asarray(latencies_s) * 1000.0
    return Figures(
        requests=len(latencies_s),
        errors=errors,
        concurrency=concurrency,
        p50_ms=round(float(np.percentile(ms, 50)), 2),
        p95_ms=round(float(np.percentile(ms, 95)), 2),
        mean_ms=round(float(ms.mean()), 2),
        throughput_rps=round(len(latencies_s) / wall_s, 3) if wall_s > 0 else None,
        response_bytes=response_bytes,
    )


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """``numerator / denominator``, or None when either side was not measured."""
    if numerator is None or denominator in (None, 0):
        return None
    return round(numerator / denominator, digits)
