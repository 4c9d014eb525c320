"""perf_analyzer's CSV report and the concurrency syntax, parsed without a server."""

from __future__ import annotations

import pytest

from serving.errors import ServingError
from serving.loadtest import concurrency_levels, format_table, parse_report

REPORT = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,"
    "Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency\n"
    "1,0.766006,207,190432,2283,231,886813,201463,18,1241261,1466958,1482737,1490000\n"
    "2,1.5,207,190432,2283,231,886813,201463,18,1300000,1500000,1600000,1700000\n"
)


def test_report_rows_become_measurements_in_milliseconds() -> None:
    first, second = parse_report("m", REPORT)
    assert (first.concurrency, first.throughput) == (1, pytest.approx(0.766006))
    assert first.latency_ms == pytest.approx({"p50": 1241.261, "p90": 1466.958, "p95": 1482.737, "p99": 1490.0})
    assert second.concurrency == 2
    assert "1241.3" in format_table([first, second])


@pytest.mark.parametrize(("spec", "levels"), [("1", [1]), ("1:3", [1, 2, 3]), ("2:8:2", [2, 4, 6, 8])])
def test_concurrency_levels(spec: str, levels: list[int]) -> None:
    assert concurrency_levels(spec) == levels


@pytest.mark.parametrize("spec", ["0", "3:1", "a", "1:4:0"])
def test_bad_concurrency_is_refused(spec: str) -> None:
    with pytest.raises(ServingError):
        concurrency_levels(spec)
