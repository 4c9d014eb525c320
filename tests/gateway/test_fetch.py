"""fetch_image_bytes against a local HTTP(S) server: SSRF refusals happen before any connection,
the connection goes to the checked address (Host and SNI keep the name), redirects are re-checked,
size/time limits hold and the body must be an image. Only loopback is ever contacted."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import gateway.fetch as fetch
from gateway.core.config import Settings
from gateway.errors import (
    BadRequest,
    ServiceError,
    TooLarge,
    UnsupportedMedia,
    UpstreamFetchFailed,
    UpstreamTimeout,
    format_size,
)
from gateway.fetch import Allowlist, address_problem, fetch_image_bytes, parse_url
from tests.gateway.hardening.hostile_server import PNG, HostileServer, serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with serve("127.0.0.1") as running:
        yield running


@pytest.fixture(scope="module")
def server(hostile: HostileServer) -> str:
    return hostile.url


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address the fetcher dials, in order (the real connection still happens)."""
    dialled: list[str] = []
    original = fetch.PinnedBackend.connect_tcp

    async def spy(self: fetch.PinnedBackend, host: str, port: int, *args: object, **kwargs: object):
        dialled.extend(str(ip) for ip in self.addresses)
        return await original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(fetch.PinnedBackend, "connect_tcp", spy)
    return dialled


def run(url: str, settings: Settings) -> bytes:
    return asyncio.run(fetch_image_bytes(url, settings))


def refused(url: str, settings: Settings) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        run(url, settings)
    return caught.value


LOCAL = Settings(url_allowlist="127.0.0.1", fetch_total_timeout_s=5, fetch_read_timeout_s=1)
STRICT = Settings(fetch_total_timeout_s=5)


# --- the address policy --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.1.2", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),
        ("198.18.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback (embedded"),
        ("::ffff:169.254.169.254", "link-local (embedded"),
        ("2002:a00:1::", "private (embedded"),
        ("2002:7f00:1::", "loopback (embedded"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (embedded"),  # Teredo, client 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local (embedded"),  # NAT64 of 169.254.169.254
        ("fec0::1", "site-local"),
    ],
)
def test_non_public_addresses_are_named(address: str, problem: str) -> None:
    found = address_problem(ipaddress.ip_address(address))
    assert found is not None and found.startswith(problem)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_internationalised_host_is_resolved_and_dialled_in_ascii(
    server: str, monkeypatch: pytest.MonkeyPatch, connections: list[str]
) -> None:
    asked: list[str] = []

    async def resolver(host: str, _port: int) -> list[ipaddress.IPv4Address]:
        asked.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(fetch, "resolve", resolver)
    port = server.rsplit(":", 1)[1]
    assert run(f"http://bücher.test:{port}/image.png", Settings(url_allowlist="bücher.test")) == PNG
    assert asked == ["xn--bcher-kva.test"] and connections == ["127.0.0.1"]


def test_allowlist_hosts_and_networks() -> None:
    allow = Allowlist.parse(["LocalHost.", "10.1.0.0/16", "::1", " "])
    assert allow.allows_host("localhost") and not allow.allows_host("example.com")
    assert allow.allows_address(ipaddress.ip_address("10.1.2.3"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert not allow.allows_address(ipaddress.ip_address("10.2.0.1"))


# --- refusals happen before any connection --------------------------------------------------
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "scheme 'file:'"),
        ("ftp://127.0.0.1/a.jpg", "scheme 'ftp:'"),
        ("gopher://127.0.0.1:70/_x", "scheme 'gopher:'"),
        ("/etc/passwd", "local paths are not accepted"),
        ("../shared/images/dog1.jpg", "local paths are not accepted"),
        ("http://", "no host"),
        ("http://127.0.0.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://0x7f000001/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://017700000001/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://localhost/", "loopback"),
    ],
)
def test_refused_before_connecting(url: str, words: str, connections: list[str]) -> None:
    error = refused(url, STRICT)
    assert isinstance(error, BadRequest)
    assert words in error.detail
    assert connections == []


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch, connections: list[str]
) -> None:
    asked: list[str] = []

    async def resolver(host: str, _port: int) -> list[ipaddress.IPv4Address]:
        asked.append(host)
        return [ipaddress.ip_address("203.0.113.9"), ipaddress.ip_address("10.9.9.9")]  # any bad one refuses

    monkeypatch.setattr(fetch, "resolve", resolver)
    error = refused("https://internal.test/a.png", STRICT)
    assert "private" in error.detail
    assert asked == ["internal.test"] and connections == []


# --- the connection goes to the checked address -------------------------------------------
def test_fetch_from_allowed_local_server(server: str, connections: list[str]) -> None:
    assert run(f"{server}/image.png", LOCAL) == PNG
    assert connections == ["127.0.0.1"]


def test_dns_is_resolved_once_and_the_checked_address_is_dialled(
    hostile: HostileServer, server: str, monkeypatch: pytest.MonkeyPatch, connections: list[str]
) -> None:
    answers = iter([[ipaddress.ip_address("127.0.0.1")]])  # a second lookup would raise StopIteration

    async def rebinding_resolver(_host: str, _port: int) -> list[ipaddress.IPv4Address]:
        return next(answers)

    monkeypatch.setattr(fetch, "resolve", rebinding_resolver)
    port = server.rsplit(":", 1)[1]
    hostile.seen_hosts.clear()
    assert run(f"http://images.test:{port}/image.png", Settings(url_allowlist="127.0.0.0/8")) == PNG
    assert connections == ["127.0.0.1"]
    assert hostile.seen_hosts == [f"images.test:{port}"]  # Host header keeps the name


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed to make a test certificate")
def test_https_keeps_sni_and_certificate_check_on_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connections: list[str]
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=pinned.test",
            "-addext",
            "subjectAltName=DNS:pinned.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    with serve("127.0.0.1", tls=server_context) as httpd:
        client_context = ssl.create_default_context(cafile=str(cert))
        monkeypatch.setattr(fetch, "_ssl_context", lambda: client_context)

        async def resolver(_host: str, _port: int) -> list[ipaddress.IPv4Address]:
            return [ipaddress.ip_address("127.0.0.1")]

        monkeypatch.setattr(fetch, "resolve", resolver)
        port = httpd.server_address[1]
        settings = Settings(url_allowlist="pinned.test")
        assert run(f"https://pinned.test:{port}/image.png", settings) == PNG
        assert sni == ["pinned.test"] and connections == ["127.0.0.1"]
        assert httpd.seen_hosts == [f"pinned.test:{port}"]
        # The same server under another name fails the certificate check: verification uses the name.
        error = refused(f"https://other.test:{port}/image.png", Settings(url_allowlist="other.test"))
        assert isinstance(error, UpstreamFetchFailed)


# --- redirects ----------------------------------------------------------------------------
def test_relative_redirects_are_followed_within_the_limit(server: str) -> None:
    assert run(f"{server}/hops/2", Settings(url_allowlist="127.0.0.1", fetch_max_redirects=3)) == PNG


def test_too_many_redirects(server: str) -> None:
    error = refused(f"{server}/hops/5", Settings(url_allowlist="127.0.0.1", fetch_max_redirects=2))
    assert isinstance(error, UpstreamFetchFailed) and "redirected more than 2 times" in error.detail


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("http://10.0.0.1/x.png", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]/x.png", "loopback"),
        ("file:///etc/passwd", "scheme 'file:'"),
    ],
)
def test_every_redirect_hop_is_checked_again(server: str, target: str, words: str, connections: list[str]) -> None:
    error = refused(f"{server}/redirect?to={target}", LOCAL)
    assert isinstance(error, BadRequest) and words in error.detail
    assert connections == ["127.0.0.1"]  # only the first, allowed hop was dialled


# --- body and limits ----------------------------------------------------------------------
def test_html_body_is_415_naming_it(server: str) -> None:
    error = refused(f"{server}/html", LOCAL)
    assert isinstance(error, UnsupportedMedia) and "HTML" in error.detail


def test_endless_body_stops_at_the_size_limit(server: str) -> None:
    error = refused(f"{server}/endless", Settings(url_allowlist="127.0.0.1", max_upload_bytes=300_000))
    assert isinstance(error, TooLarge) and format_size(300_000) in error.detail  # "293.0 KiB"


def test_declared_oversize_is_refused_without_reading(server: str) -> None:
    error = refused(f"{server}/big-declared", LOCAL)
    assert isinstance(error, TooLarge) and "953.7 MiB" in error.detail  # 1e9 bytes, in the docs' unit


def test_compressed_transfer_is_refused(server: str) -> None:
    error = refused(f"{server}/gzip", LOCAL)
    assert isinstance(error, UpstreamFetchFailed) and "gzip" in error.detail


def test_http_error_status_is_502(server: str) -> None:
    error = refused(f"{server}/missing.png", LOCAL)
    assert isinstance(error, UpstreamFetchFailed) and "HTTP 404" in error.detail


def test_slow_server_hits_the_total_deadline(server: str) -> None:
    settings = Settings(url_allowlist="127.0.0.1", fetch_total_timeout_s=0.5, fetch_read_timeout_s=10)
    error = refused(f"{server}/slow", settings)
    assert isinstance(error, UpstreamTimeout) and "0.5 s" in error.detail


def test_trickling_server_hits_the_total_deadline(server: str) -> None:
    settings = Settings(url_allowlist="127.0.0.1", fetch_total_timeout_s=0.8, fetch_read_timeout_s=5)
    error = refused(f"{server}/trickle", settings)
    assert isinstance(error, UpstreamTimeout) and "longer than 0.8 s" in error.detail


def test_slow_server_hits_the_read_timeout(server: str) -> None:
    settings = Settings(url_allowlist="127.0.0.1", fetch_total_timeout_s=10, fetch_read_timeout_s=0.3)
    error = refused(f"{server}/slow", settings)
    assert isinstance(error, UpstreamTimeout) and "did not answer within 0.3 s" in error.detail


def test_closed_port_is_502() -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = refused(f"http://127.0.0.1:{port}/a.png", LOCAL)
    assert isinstance(error, UpstreamFetchFailed) and "connection failed" in error.detail


def test_parse_url_accepts_only_http_and_https() -> None:
    assert parse_url(" https://example.com/a.png ").host == "example.com"
    for bad in ("javascript:alert(1)", "data:image/png;base64,AAAA", "ws://127.0.0.1/"):
        with pytest.raises(BadRequest, match="scheme"):
            parse_url(bad)
