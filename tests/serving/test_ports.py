"""The launcher's port check, on real sockets."""

from __future__ import annotations

import socket

import pytest

from serving.errors import ServingError
from serving.ports import ensure_free
from serving.settings import PortSetting
from tests.support.ports import free_ports


def test_free_ports_pass() -> None:
    first, second = free_ports(2)
    assert first != second
    # Two free ports pass without an error (it raises ServingError otherwise), and each is really free: bindable.
    assert (
        ensure_free(
            [PortSetting("TRITON_HTTP_PORT", "127.0.0.1", first), PortSetting("GATEWAY_PORT", "127.0.0.1", second)]
        )
        is None
    )
    for port in (first, second):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_a_listening_port_is_named_with_its_variable() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ServingError, match=f"port {port} on 127.0.0.1 is already in use.*TRITON_GRPC_PORT"):
            ensure_free([PortSetting("TRITON_GRPC_PORT", "127.0.0.1", port)])


def test_the_same_port_twice_is_refused() -> None:
    (port,) = free_ports(1)
    with pytest.raises(ServingError, match="TRITON_METRICS_PORT and TRITON_HTTP_PORT are both"):
        ensure_free(
            [PortSetting("TRITON_HTTP_PORT", "127.0.0.1", port), PortSetting("TRITON_METRICS_PORT", "127.0.0.1", port)]
        )


def test_an_address_this_machine_does_not_have_names_the_host_variable() -> None:
    (port,) = free_ports(1)
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface, and binding sends no traffic.
    with pytest.raises(ServingError, match=r"cannot listen on 192\.0\.2\.1.*TRITON_HOST"):
        ensure_free([PortSetting("TRITON_HTTP_PORT", "192.0.2.1", port)])
