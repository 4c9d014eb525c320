"""bench.load.run_paired and the ratios it feeds (bench.report.add_ratios): the harness's own logic, in-process."""

from __future__ import annotations

import time

import pytest

from bench.load import LoadPlan, run_paired
from bench.report import add_ratios
from bench.scenarios import REFERENCE, REFERENCE_NOSPIN


def sleeper(calls: list[str], name: str, seconds: float, size: int):
    def make():
        def send() -> int:
            calls.append(name)
            time.sleep(seconds)
            return size

        return send

    return make


def test_paired_run_takes_turns_with_the_reference_in_blocks_and_times_each_side_alone() -> None:
    calls: list[str] = []
    plan = LoadPlan(concurrency=1, requests=6, warmup=1, max_seconds=30)
    figures, reference, errors = run_paired(
        sleeper(calls, "path", 0.02, 7), sleeper(calls, "ref", 0.01, 3), plan, block=4
    )
    # One warm-up pair, then turns of four and two, each led by one uncounted request.
    assert calls == ["ref", "path"] + ["ref"] * 5 + ["path"] * 5 + ["ref"] * 3 + ["path"] * 3
    assert (figures.requests, reference.requests, errors) == (6, 6, [])
    assert figures.p50_ms >= 20 and reference.p50_ms >= 10  # each timed alone: at least its own sleep
    # Each side's throughput is its own (1 / its mean latency), not the shared window's.
    for side in (figures, reference):
        assert side.throughput_rps == pytest.approx(1000 / side.mean_ms, rel=0.01)
    assert figures.throughput_rps > 1000 / (figures.mean_ms + reference.mean_ms)
    assert (figures.response_bytes, reference.response_bytes) == (7, 3)


def test_a_failing_path_is_counted_and_the_reference_still_measured() -> None:
    def failing():
        def send() -> int:
            raise RuntimeError("HTTP 503")

        return send

    figures, reference, errors = run_paired(failing, sleeper([], "ref", 0.001, 1), LoadPlan(1, 4, 0, 30))
    # The turn's leading request fails too, but is not counted: four measured failures.
    assert (figures.requests, figures.errors, reference.requests) == (0, 4, 4)
    assert errors == ["RuntimeError: HTTP 503"]


def test_ratio_is_to_the_reference_beside_the_run_when_there_is_one() -> None:
    runs = [
        {"scenario": REFERENCE, "photo": "a.jpg", "concurrency": 1, "p50_ms": 100.0, "throughput_rps": 10.0},
        {
            "scenario": "triton/onnx",
            "photo": "a.jpg",
            "concurrency": 1,
            "p50_ms": 90.0,
            "throughput_rps": 11.0,
            "paired_reference_p50_ms": 80.0,
            "paired_reference_throughput_rps": 12.5,
        },
        {"scenario": "triton/onnx", "photo": "a.jpg", "concurrency": 4, "p50_ms": 300.0, "throughput_rps": 13.0},
    ]
    add_ratios(runs)
    assert (runs[1]["p50_ratio"], runs[1]["throughput_ratio"]) == (1.125, 0.88)
    assert (runs[2]["p50_ratio"], runs[2]["throughput_ratio"]) == (3.0, 1.3)  # concurrency 4: the reference's run
    assert runs[0]["p50_ratio"] == 1.0


def test_the_second_column_is_to_the_no_spinning_reference() -> None:
    runs = [
        {"scenario": REFERENCE, "photo": "a.jpg", "concurrency": 1, "p50_ms": 50.0, "throughput_rps": 20.0},
        {
            "scenario": REFERENCE_NOSPIN,
            "photo": "a.jpg",
            "concurrency": 1,
            "p50_ms": 65.0,
            "throughput_rps": 15.0,
            "paired_reference_p50_ms": 52.0,
            "paired_reference_throughput_rps": 19.0,
        },
        {"scenario": "triton/onnx", "photo": "a.jpg", "concurrency": 1, "p50_ms": 78.0, "throughput_rps": 12.0},
    ]
    add_ratios(runs)
    assert runs[1]["p50_ratio"] == 1.25  # no spinning against the defaults beside it
    assert (runs[2]["p50_ratio"], runs[2]["p50_ratio_nospin"]) == (1.56, 1.2)
    assert runs[0]["p50_ratio_nospin"] == round(50 / 65, 3)
