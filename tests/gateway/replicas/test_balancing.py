"""One gateway over two real Triton replicas: every call balanced, each replica's own counter shows it."""

from __future__ import annotations

import pytest

from tests.gateway.replicas.conftest import ensure_serving, ipv4_target, load

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

REQUESTS = 48
CONCURRENCY = 4


def test_round_robin_spreads_calls_over_both_replicas(replicas, start_gateway) -> None:
    ensure_serving(replicas)
    gateway = start_gateway(ipv4_target(replicas))
    before = [stack.successes() for stack in replicas]

    statuses = load(gateway.url, REQUESTS, CONCURRENCY)

    assert statuses == [200] * REQUESTS, f"{statuses}\n{gateway.log()}"
    served = [stack.successes() - count for stack, count in zip(replicas, before, strict=True)]
    assert sum(served) == REQUESTS, served
    for count in served:
        assert count >= 0.3 * REQUESTS, f"uneven split {served}"
    # The gateway's own per-address counts show the same split (they also count its status calls).
    calls = gateway.replica_calls("ok")
    for stack, count in zip(replicas, served, strict=True):
        assert calls.get(stack.triton_grpc_url, 0) >= count, calls
    print(f"split of {REQUESTS} requests over {[s.triton_grpc_url for s in replicas]}: {served}; gateway: {calls}")


def test_pick_first_sends_everything_to_one_replica(replicas, start_gateway) -> None:
    """The policy is a setting, and it really is the one used (a test that round-robin is not an accident)."""
    ensure_serving(replicas)
    gateway = start_gateway(ipv4_target(replicas), GATEWAY_TRITON_LB_POLICY="pick_first")
    before = [stack.successes() for stack in replicas]

    assert load(gateway.url, 8, 2) == [200] * 8

    served = sorted(stack.successes() - count for stack, count in zip(replicas, before, strict=True))
    assert served == [0, 8]
