"""A closed-loop load generator: N threads, each with its own client, each sending back to back.

Threads (not processes) keep the harness light on a 2-core machine; every path it drives spends its
time in C code or waiting on a socket, so the GIL is not the bottleneck. Each worker builds its own
client through ``make_sender`` because neither httpx nor tritonclient promise thread-safe sharing.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import Figures, summarise

# One request: returns the size of the response body in bytes; raises on failure.
Send = Callable[[], int]
SenderFactory = Callable[[], Send]


class RequestFailed(RuntimeError):
    """A request that got an answer, but not a successful one (HTTP status, Triton error)."""


# Requests per side and turn in run_paired (each turn led by one more, not counted).
PAIRED_BLOCK = 4


@dataclass(frozen=True)
class LoadPlan:
    concurrency: int
    requests: int  # measured requests in all (split across workers)
    warmup: int  # unmeasured requests per worker before the clock starts
    max_seconds: float  # stop issuing new requests after this long (keeps a slow path bounded)


def run_load(make_sender: SenderFactory, plan: LoadPlan) -> tuple[Figures, list[str]]:
    """Run ``plan`` and return its figures plus the distinct error messages seen."""
    senders = [make_sender() for _ in range(plan.concurrency)]
    errors: list[str] = []
    lock = threading.Lock()

    def warm(send: Send) -> None:
        for _ in range(plan.warmup):
            try:
                send()
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                with lock:
                    errors.append(_describe(exc))

    _run_threads([functools.partial(warm, s) for s in senders])

    latencies: list[float] = []
    sizes: list[int] = []
    failures = 0
    remaining = plan.requests
    deadline = time.perf_counter() + plan.max_seconds

    def claim() -> bool:
        nonlocal remaining
        with lock:
            if remaining <= 0 or time.perf_counter() > deadline:
                return False
            remaining -= 1
            return True

    def work(send: Send) -> None:
        nonlocal failures
        while claim():
            started = time.perf_counter()
            try:
                size = send()
            except Exception as exc:  # noqa: BLE001
                with lock:
                    failures += 1
                    errors.append(_describe(exc))
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                sizes.append(size)

    started = time.perf_counter()
    _run_threads([functools.partial(work, s) for s in senders])
    wall = time.perf_counter() - started
    figures = summarise(latencies, failures, plan.concurrency, wall, sizes[-1] if sizes else None)
    return figures, sorted(set(errors))


def _run_threads(jobs: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def run_paired(
    make_sender: SenderFactory, make_reference: SenderFactory, plan: LoadPlan, block: int = PAIRED_BLOCK
) -> tuple[Figures, Figures, list[str]]:
    """One request at a time, in turn with the reference in short blocks: a block of ``block`` reference
    requests, a block of ``block`` path requests, and so on, each block led by one unmeasured request.

    On a shared machine the speed drifts by tens of percent within minutes; measured in turn, the path and
    the reference see the same drift, so their ratio holds where two separate runs would not. Not one by one:
    onnxruntime's threads spin for a while after each run (its default), in the bench's process and in
    Triton's, so a request sent right after the other side's ran beside those spinning threads. Strictly
    alternating on 2 cores, the reference took 78 ms beside the ONNX map model and 55 ms beside the
    TorchScript one (54 ms alone) and the TorchScript model 108 ms (76 ms in blocks): the figures measured
    the two processes' spinning, which no user running either alone sees. The block's leading request takes
    that cost and is not counted. Returns the path's figures, the reference's over the same window, and the
    path's errors. Throughputs are each side's own (requests ÷ the time spent in its requests), not the
    window's.
    """
    send, reference = make_sender(), make_reference()
    errors: list[str] = []
    for _ in range(plan.warmup):
        reference()
        try:
            send()
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            errors.append(_describe(exc))
    latencies: list[float] = []
    reference_latencies: list[float] = []
    sizes: list[int] = []
    reference_size: int | None = None
    failures = 0
    deadline = time.perf_counter() + plan.max_seconds
    while len(reference_latencies) < plan.requests and time.perf_counter() <= deadline:
        count = min(block, plan.requests - len(reference_latencies))
        reference()  # the block's leading request: not counted
        for _ in range(count):
            started = time.perf_counter()
            reference_size = reference()
            reference_latencies.append(time.perf_counter() - started)
        for index in range(count + 1):
            started = time.perf_counter()
            try:
                size = send()
            except Exception as exc:  # noqa: BLE001
                if index:
                    failures += 1
                errors.append(_describe(exc))
                continue
            if index:  # the block's leading request is not counted
                sizes.append(size)
                latencies.append(time.perf_counter() - started)
    figures = summarise(latencies, failures, 1, sum(latencies), sizes[-1] if sizes else None)
    reference_figures = summarise(reference_latencies, 0, 1, sum(reference_latencies), reference_size)
    return figures, reference_figures, sorted(set(errors))
