"""A replica added behind a DNS name gets calls, without restarting the gateway.

A loopback DNS server (dnslib) stands in for the cluster's DNS: the gateway's target names it as the
authority, ``dns://127.0.0.1:PORT/name:grpc_port``, which grpc's c-ares resolver (GRPC_DNS_RESOLVER=ares,
grpc's default) honours; the native resolver would ignore it and ask the system's DNS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.gateway.replicas.conftest import HOSTS, ensure_serving, infer, load

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

NAME = "triton.segmentation.test"
TTL_S = 1
# The gateway re-resolves its target at least every 30 s (gateway.triton.CHANNEL_REFRESH_S): "within a minute".
NEW_REPLICA_BOUND_S = 60


class Records(BaseResolver):
    """A records of NAME, changeable while serving; other names do not exist."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = list(addresses)

    def resolve(self, request, _handler):
        reply = request.reply()
        question = request.q
        if str(question.qname).rstrip(".") != NAME:
            reply.header.rcode = RCODE.NXDOMAIN
        elif question.qtype == QTYPE.A:
            for address in list(self.addresses):
                reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL_S))
        return reply


@pytest.fixture
def dns() -> Iterator[tuple[Records, int]]:
    records = Records([HOSTS[0]])
    server = DNSServer(
        records,
        address="127.0.0.1",
        port=0,
        logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False),
    )
    server.start_thread()
    try:
        yield records, server.server.server_address[1]
    finally:
        server.stop()


def test_a_replica_added_to_the_name_gets_calls_without_a_gateway_restart(replicas, start_gateway, dns) -> None:
    records, dns_port = dns
    ensure_serving(replicas)
    grpc_port = replicas[0].ports["TRITON_GRPC_PORT"]
    gateway = start_gateway(f"dns://127.0.0.1:{dns_port}/{NAME}:{grpc_port}", GRPC_DNS_RESOLVER="ares")
    old, new = replicas
    before = [stack.successes() for stack in replicas]

    assert load(gateway.url, 6, 2) == [200] * 6
    assert (old.successes() - before[0], new.successes() - before[1]) == (6, 0), "the name has one address"

    records.addresses.append(HOSTS[1])
    added = time.monotonic()
    assert gateway.process is not None
    pid = gateway.process.pid
    while new.successes() == before[1]:
        assert time.monotonic() - added < NEW_REPLICA_BOUND_S, f"the new replica got no call\n{gateway.log()}"
        assert infer(gateway.url) == 200
        time.sleep(0.5)
    print(f"dns: the added replica got its first call {time.monotonic() - added:.1f} s after it joined the name")
    assert gateway.process.pid == pid and gateway.process.poll() is None
