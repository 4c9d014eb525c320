"""Safe fetching of ``url_image``: scheme and address checks (SSRF), redirects re-checked, limits.

How a URL is fetched, hop by hop (each redirect target goes through the same steps):

1. Only absolute ``http``/``https`` URLs with a host; anything else (``file:``, ``ftp:``, a bare
   path like ``/etc/passwd``) → 400 before any I/O.
2. The host is resolved once with the OS resolver (so odd numeric forms such as ``0x7f000001``,
   ``2130706433``, ``127.1`` become the address the OS would really use) and *every* address is
   checked: loopback, private, link-local (incl. 169.254.169.254), carrier-grade NAT, multicast,
   reserved, unspecified and other non-global addresses are refused → 400, for IPv4 and IPv6,
   including IPv4 embedded in IPv4-mapped, 6to4, Teredo and NAT64 IPv6 addresses.
   ``settings.url_allowlist`` (host names, addresses or CIDR networks) lifts the refusal.
3. The connection goes to the checked address itself: a pinned httpcore network backend ignores
   the host name httpcore asks for and dials the checked IPs, while the Host header and TLS SNI /
   certificate check keep using the URL's host name. No second DNS lookup, so no DNS rebinding.
4. Redirects are never followed by the HTTP library; we re-run 1–3 on each ``Location``, at most
   ``settings.fetch_max_redirects`` times.
5. Connect/read timeouts per hop, one total deadline around everything (resolution included) → 504.
   The body is streamed and counted: over ``settings.max_upload_bytes`` → 413 at once (a
   Content-Length over the limit is refused before reading). Compressed transfer encodings are
   refused (we ask for ``identity``) so the count is the real size. The first bytes must sniff as
   an allowed image format → 415 naming what it is (e.g. an HTML page) without reading the rest.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import anyio
import httpcore
import httpx

from gateway.core.config import Settings
from gateway.errors import BadRequest, TooLarge, UpstreamFetchFailed, UpstreamTimeout, format_size, shown
from gateway.images import require_image_format, sniff_format

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = ("http", "https")
_REDIRECTS = (301, 302, 303, 307, 308)
_SNIFF_BYTES = 512  # magic needs 12 bytes; naming non-images (HTML, text...) looks a little further
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_HEADERS = [
    (b"Accept", b"image/*"),
    (b"Accept-Encoding", b"identity"),
    (b"User-Agent", b"segmentation-gateway"),
]


# ---------------------------------------------------------------------------------------------
# Address policy
# ---------------------------------------------------------------------------------------------
def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client behind the NAT is where traffic would end up
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from (e.g. "loopback"), or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:  # the socket really talks IPv4 to the mapped address
            problem = address_problem(ip.ipv4_mapped)
            return None if problem is None else f"{problem} (embedded in an IPv6 address)"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded)
            if problem is not None:
                return f"{problem} (embedded in an IPv6 address)"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("carrier-grade NAT", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if ip.is_global else "non-public"


@dataclass(frozen=True)
class Allowlist:
    """``settings.url_allowlist``: host names, addresses or CIDR networks that may be reached anyway."""

    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            entry = entry.strip().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def allows_address(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def _normal_host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:  # compare internationalised names in their ASCII (punycode) form, as they go on the wire
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def ascii_host(url: httpx.URL) -> str:
    """The host as it goes on the wire (IDNA-encoded), which is what httpcore dials and what we resolve."""
    return url.raw_host.decode("ascii")


# ---------------------------------------------------------------------------------------------
# Resolution and pinned connections
# ---------------------------------------------------------------------------------------------
async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses the OS resolver gives for ``host`` (numeric forms included), in its order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        raise UpstreamFetchFailed("url_image host name could not be resolved") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UpstreamFetchFailed("url_image host name could not be resolved")
    return addresses


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials only the addresses that were checked, whatever host name httpcore asks for.

    httpcore still uses the URL's host for the Host header and for TLS (SNI and certificate
    verification), so HTTPS works against the name while the socket goes to the pinned IP.
    """

    def __init__(self, host: str, addresses: list[IPAddress], inner: httpcore.AsyncNetworkBackend | None = None):
        self.host = host
        self.addresses = addresses
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if _normal_host(host.strip("[]")) != _normal_host(self.host):
            raise httpcore.ConnectError("connection to a host that was not checked")
        error: Exception = httpcore.ConnectError("no address to connect to")
        for ip in self.addresses:
            try:
                return await self.inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                error = exc
        raise error

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds: do it once, contexts are safe to share.
    return httpx.create_ssl_context()


# ---------------------------------------------------------------------------------------------
# The fetch
# ---------------------------------------------------------------------------------------------
def parse_url(url: str) -> httpx.URL:
    """The URL if it is an absolute http(s) URL with a host; 400 naming the problem otherwise."""
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise BadRequest("url_image is not a valid URL") from None
    scheme = parsed.scheme.lower()
    if not scheme:
        raise BadRequest("url_image must be an http:// or https:// URL; local paths are not accepted")
    if scheme not in _SCHEMES:
        raise BadRequest(f"url_image scheme '{shown(scheme)}:' is not allowed; only http:// and https:// URLs")
    if not parsed.host:
        raise BadRequest("url_image has no host")
    return parsed


async def checked_addresses(url: httpx.URL, allowlist: Allowlist) -> list[IPAddress]:
    """Resolve ``url``'s host and return its addresses if all may be reached; 400 otherwise."""
    host = ascii_host(url)
    addresses = await resolve(host, url.port or (443 if url.scheme == "https" else 80))
    if allowlist.allows_host(host):
        return addresses
    for ip in addresses:
        problem = address_problem(ip)
        if problem is not None and not allowlist.allows_address(ip):
            article = "an" if problem[0] in "aeiou" else "a"
            raise BadRequest(f"url_image points to {article} {problem} address, which is not allowed")
    return addresses


async def fetch_image_bytes(url: str, settings: Settings) -> bytes:
    """Download ``url`` and return its body.

    Raises gateway.errors: BadRequest (bad URL / scheme / forbidden address), TooLarge (over
    settings.max_upload_bytes, enforced while streaming), UpstreamFetchFailed (502: unreachable,
    HTTP error status), UpstreamTimeout (504).
    """
    current = parse_url(url)
    allowlist = Allowlist.parse(settings.url_allowlist)
    try:
        with anyio.fail_after(settings.fetch_total_timeout_s):
            for _hop in range(settings.fetch_max_redirects + 1):
                addresses = await checked_addresses(current, allowlist)
                outcome = await _fetch_one(current, addresses, settings)
                if isinstance(outcome, bytes):
                    return outcome
                current = outcome
    except TimeoutError:
        raise UpstreamTimeout(f"url_image took longer than {settings.fetch_total_timeout_s:g} s to download") from None
    raise UpstreamFetchFailed(f"url_image redirected more than {settings.fetch_max_redirects} times")


async def _fetch_one(url: httpx.URL, addresses: list[IPAddress], settings: Settings) -> bytes | httpx.URL:
    """GET one hop: the body, or the next URL when the answer is a redirect."""
    timeouts = {
        "connect": settings.fetch_connect_timeout_s,
        "read": settings.fetch_read_timeout_s,
        "write": settings.fetch_read_timeout_s,
        "pool": settings.fetch_connect_timeout_s,
    }
    target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
    headers = [(b"Host", url.netloc), *_HEADERS]
    backend = PinnedBackend(ascii_host(url), addresses)
    try:
        async with (
            httpcore.AsyncConnectionPool(
                ssl_context=_ssl_context(), network_backend=backend, max_connections=1, retries=0
            ) as pool,
            pool.stream("GET", target, headers=headers, extensions={"timeout": timeouts}) as response,
        ):
            return await _read_response(url, response, settings.max_upload_bytes)
    except httpcore.ConnectTimeout:
        raise UpstreamTimeout(
            f"url_image did not accept a connection within {settings.fetch_connect_timeout_s:g} s"
        ) from None
    except httpcore.TimeoutException:
        raise UpstreamTimeout(f"url_image did not answer within {settings.fetch_read_timeout_s:g} s") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError):
        raise UpstreamFetchFailed("url_image could not be fetched (connection failed)") from None


async def _read_response(url: httpx.URL, response: httpcore.Response, limit: int) -> bytes | httpx.URL:
    headers = httpx.Headers(response.headers)
    if response.status in _REDIRECTS:
        location = headers.get("location")
        if not location:
            raise UpstreamFetchFailed(f"url_image answered HTTP {response.status} without a Location")
        try:
            return parse_url(str(url.join(location)))
        except httpx.InvalidURL:
            raise BadRequest("url_image redirected to an invalid URL") from None
    if response.status != 200:
        raise UpstreamFetchFailed(f"url_image answered HTTP {response.status}, expected 200")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UpstreamFetchFailed(
            f"url_image was sent with Content-Encoding '{shown(encoding)}'; only identity is accepted"
        )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"url_image is {format_size(int(declared))}, over the limit of {format_size(limit)}")
    body = bytearray()
    sniffed = False
    async for chunk in response.aiter_stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"url_image is larger than the limit of {format_size(limit)}")
        if not sniffed and len(body) >= _SNIFF_BYTES:
            sniffed = True
            if sniff_format(bytes(body[:_SNIFF_BYTES])) is None:
                require_image_format(bytes(body))  # raises 415 naming what the body is
    data = bytes(body)
    if not data:
        raise UpstreamFetchFailed("url_image answered with an empty body")
    require_image_format(data)
    return data
