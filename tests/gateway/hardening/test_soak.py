"""Soak: ≥ 500 map-only requests at concurrency 8 against the stack's gateway, 0 failures, and the
gateway's resident memory stays bounded (RSS printed before and after)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.paths import shared_image

# A bound against hangs, not a speed target: 504 requests took 17 min with the 2 cores shared by ~10
# busy processes (in-process onnxruntime at 1.4 s per image instead of ~35 ms idle).
pytestmark = [pytest.mark.timeout(1200), pytest.mark.slow]

# ≥ 500 as the issue asks; HARDENING_SOAK_REQUESTS may raise it, or lower it for a quick local look.
REQUESTS = int(os.environ.get("HARDENING_SOAK_REQUESTS", "504"))
CONCURRENCY = 8
WARM_UP = 32
# Allocator arenas, thread pools and caches settle during warm-up and the first quarter (seen: +58 MiB in
# the first quarter, then +10 MiB a quarter, after earlier suites had left 130 MB JSON answers behind).
# 500 leaked map answers (~1 MB of JSON each) would be ~500 MB, ~375 MB over the last three quarters:
# 100 MiB after the first quarter catches any such leak; the whole run gets 200 MiB for the settling.
RSS_GROWTH_BOUND_BYTES = 100 * 1024 * 1024
RSS_TOTAL_GROWTH_BOUND_BYTES = 200 * 1024 * 1024
TIMEOUT_S = 60
PHOTO = "dog1.jpg"
# The lighter backend on this CPU-only machine: the soak is about the gateway's footing, and the torch
# twin's batches of 8 can pass the 30 s Triton deadline when the 2 cores are shared.
BACKEND = "onnx"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_soak_map_only(stack, capsys: pytest.CaptureFixture[str]) -> None:
    pid = int((stack.run_dir / "gateway.pid").read_text())
    photo = shared_image(PHOTO).read_bytes()
    local = threading.local()

    def one(_index: int) -> tuple[int, str]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            response = session.post(
                f"{stack.gateway_url}/infer/file",
                data={"infer_model_type": BACKEND, "requested_results_types": ["segmentation_map"]},
                files={"file": (PHOTO, photo, "image/jpeg")},
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            return -1, type(exc).__name__
        if response.status_code != 200:
            return response.status_code, response.text[:200]
        body = response.json()
        ok = len(body["requested_results"]["segmentation_map"]) == 512
        return (200, "") if ok else (-2, "bad shape")

    pool = ThreadPoolExecutor(CONCURRENCY)
    samples: list[int] = []  # RSS after each quarter, to tell a plateau from steady growth
    outcomes: list[tuple[int, str]] = []
    try:
        warm = list(pool.map(one, range(WARM_UP)))
        before = rss_bytes(pid)
        quarter = -(-REQUESTS // 4)
        for start in range(0, REQUESTS, quarter):
            outcomes += pool.map(one, range(start, min(start + quarter, REQUESTS)))
            samples.append(rss_bytes(pid))
        after = samples[-1]
    finally:  # on a timeout, drop the queued requests instead of waiting for them
        pool.shutdown(wait=False, cancel_futures=True)

    failures = [outcome for outcome in warm + outcomes if outcome[0] != 200]
    with capsys.disabled():
        print(
            f"\n[soak] {REQUESTS} map-only requests at concurrency {CONCURRENCY}: {len(failures)} failures; "
            f"gateway RSS {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after "
            f"({(after - before) / 2**20:+.1f} MiB, bound {RSS_TOTAL_GROWTH_BOUND_BYTES / 2**20:.0f} MiB; "
            f"{(after - samples[0]) / 2**20:+.1f} MiB after the first quarter, bound "
            f"{RSS_GROWTH_BOUND_BYTES / 2**20:.0f} MiB); "
            f"after each quarter: {', '.join(f'{sample / 2**20:.1f}' for sample in samples)} MiB"
        )
    assert failures == []
    assert after - samples[0] < RSS_GROWTH_BOUND_BYTES  # steady growth = a leak
    assert after - before < RSS_TOTAL_GROWTH_BOUND_BYTES
