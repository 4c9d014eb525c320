"""Replica deaths: a call whose replica goes away is sent again to the other; none left → 503 at once."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.gateway.replicas.conftest import ensure_serving, infer, ipv4_target, load

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

REQUESTS = 80
CONCURRENCY = 8
KILL_AFTER = 24  # answers received before one replica is killed
# What the README promises when no replica is reachable (retries pause 0.1 s each; refusals are immediate).
NO_REPLICA_BOUND_S = 3.0


def test_killing_a_replica_mid_run_loses_no_request(replicas, start_gateway) -> None:
    ensure_serving(replicas)
    gateway = start_gateway(ipv4_target(replicas))
    victim = replicas[1]
    results: list[int | str] = []
    runner = threading.Thread(target=load, args=(gateway.url, REQUESTS, CONCURRENCY, results))
    runner.start()
    deadline = time.monotonic() + 300
    while len(results) < KILL_AFTER and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.is_alive(), "the load ended before the kill: make it longer"
    victim.kill_triton()  # SIGKILL, with calls in flight on it
    runner.join(timeout=600)

    failed = [status for status in results if status != 200]
    retried = sum(gateway.replica_calls("retried").values())
    print(f"kill test: sent {len(results)}, failed {len(failed)}, retried {retried:g}")
    assert len(results) == REQUESTS and not failed, f"{failed}\n{gateway.log()}"
    assert retried >= 1, "no call was in flight on the killed replica: the test proved nothing"

    # Its launcher restarts it; the same gateway (not restarted) sends it calls again.
    victim.wait_ready(timeout=300)
    before = victim.successes()
    deadline = time.monotonic() + 60
    while victim.successes() == before:
        assert time.monotonic() < deadline, f"the restarted replica got no call\n{gateway.log()}"
        assert load(gateway.url, 4, 2) == [200] * 4


def test_no_replica_is_a_quick_503_and_service_resumes_when_one_returns(replicas, start_gateway) -> None:
    ensure_serving(replicas)
    gateway = start_gateway(ipv4_target(replicas))
    assert infer(gateway.url) == 200
    for stack in replicas:
        stack.kill_triton()

    for _ in range(3):
        started = time.monotonic()
        with httpx.Client(trust_env=False) as client:
            status = infer(gateway.url, client)
        took = time.monotonic() - started
        if status == 200 and not all(stack.pending() for stack in replicas):
            break  # a launcher has already brought its replica back: nothing more to learn here
        assert status == 503 and took < NO_REPLICA_BOUND_S, (status, took, gateway.log())
        print(f"no replica: 503 after {took:.2f} s")
    ready = httpx.get(f"{gateway.url}/ready", timeout=NO_REPLICA_BOUND_S, trust_env=False)
    if all(stack.pending() for stack in replicas):
        assert ready.status_code == 503 and "Triton" in ready.json()["detail"]

    # The first replica back (their launchers restart both) is enough.
    deadline = time.monotonic() + 300
    while all(stack.pending() for stack in replicas):
        assert time.monotonic() < deadline, "no replica came back"
        time.sleep(0.5)
    deadline = time.monotonic() + 30
    while (status := infer(gateway.url)) != 200:
        assert status == 503 and time.monotonic() < deadline, (status, gateway.log())
        time.sleep(0.5)
    gateway.wait_for("/ready", 200, 30)
