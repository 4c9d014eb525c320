"""Hostile and broken input, table-driven over real HTTP: each case asserts the status and that
``detail`` names the problem; the odd-but-valid images must succeed; both gateways stay healthy.

SSRF refusals run against ``strict_gateway`` (no loopback allowlist, see conftest.py); cases that need
a loopback server to misbehave run against the stack's gateway, which allowlists 127.0.0.1. No case
sends traffic to a non-loopback address: those URLs are refused before connecting (proven by the
fetch unit tests, which spy on the dialler).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import orjson
import pytest
import requests
from PIL import Image

from tests.gateway.hardening.conftest import (
    STRICT_API_KEY,
    STRICT_FETCH_TOTAL_TIMEOUT_S,
    STRICT_MAX_UPLOAD_BYTES,
)
from tests.support.images import encode, png_claiming
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(300)

TIMEOUT_S = 60
MAP_ONLY = {"infer_model_type": "onnx", "requested_results_types": ["segmentation_map"]}


def gif_claiming(width: int, height: int) -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x00\x00\x00"
        + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((200, 0, 0), (0, 0, 200), (0, 200, 0))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.new("RGB", (64, 32), (10, 120, 200)), "JPEG", exif=exif)


PHOTO = encode(Image.radial_gradient("L").convert("RGB").resize((96, 96)), "JPEG", quality=90)
NOISE = Image.effect_noise((1100, 1100), 80).convert("RGB")


@dataclass(frozen=True)
class Case:
    id: str
    status: int
    words: tuple[str, ...] = ()  # all must appear in detail (case-insensitive)
    endpoint: str = "file"  # "file" or "url"
    gateway: str = "main"  # "main" (allowlists 127.0.0.1) or "strict"
    fields: dict = field(default_factory=lambda: dict(MAP_ONLY))
    file: tuple[str, bytes, str] | None = None
    url: str | None = None  # may name {hostile} {slow} {self} {closed}


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> tuple[str, bytes, str]:
    return (name, data, content_type)


CASES = [
    # --- the form itself ----------------------------------------------------------------------
    Case("empty body", 422, ("infer_model_type",), fields={}),
    Case("missing file field", 422, ("file",)),
    Case("missing url_image field", 422, ("url_image",), endpoint="url"),
    Case("missing infer_model_type", 422, ("infer_model_type",), fields={}, file=upload("a.jpg", PHOTO)),
    Case(
        "unknown backend",
        400,
        ("infer_model_type", "tensorflow"),
        file=upload("a.jpg", PHOTO),
        fields={"infer_model_type": "tensorflow"},
    ),
    Case(
        "unknown result type",
        400,
        ("colours",),
        file=upload("a.jpg", PHOTO),
        fields={"infer_model_type": "onnx", "requested_results_types": ["segmentation_map", "colours"]},
    ),
    # invalid values of form fields: 400 naming the field and the allowed values (422 only for a missing field)
    Case(
        "bad legend",
        400,
        ("legend", "maybe", "true, false"),
        file=upload("a.jpg", PHOTO),
        fields={**MAP_ONLY, "legend": "maybe"},
    ),
    Case(
        "bad mask_size",
        400,
        ("mask_size", "huge", "model, original"),
        file=upload("a.jpg", PHOTO),
        fields={**MAP_ONLY, "mask_size": "huge"},
    ),
    Case(
        "bad response_format",
        400,
        ("response_format", "gif", "overlay_jpeg"),
        file=upload("a.jpg", PHOTO),
        fields={**MAP_ONLY, "response_format": "gif"},
    ),
    # curl -F file=dog1.jpg (the @ forgotten): a text field, not a file
    Case("file sent as text", 400, ("file must be a file upload", "-F file=@"), file=(None, b"dog1.jpg", None)),
    # --- uploaded bytes -----------------------------------------------------------------------
    Case("empty file", 400, ("empty",), file=upload("a.jpg", b"")),
    Case("text named .jpg", 415, ("text", "not an image"), file=upload("photo.jpg", b"just some words, honestly")),
    Case("HTML named .png", 415, ("HTML",), file=upload("photo.png", b"<html><body>hi</body></html>", "image/png")),
    Case("SVG", 415, ("SVG",), file=upload("a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")),
    Case("PDF named .jpg", 415, ("PDF",), file=upload("a.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")),
    Case("truncated JPEG", 400, ("JPEG", "truncated"), file=upload("a.jpg", PHOTO[: len(PHOTO) // 3])),
    Case("corrupt JPEG", 400, ("JPEG", "corrupt"), file=upload("a.jpg", b"\xff\xd8\xff" + bytes(range(256)) * 4)),
    Case("truncated PNG", 400, ("PNG",), file=upload("a.png", encode(Image.new("RGB", (40, 40)), "PNG")[:50])),
    Case("PNG bomb", 413, ("pixels",), file=upload("bomb.png", png_claiming(60_000, 60_000), "image/png")),
    Case("PNG over the pixel setting", 413, ("pixels", "limit"), file=upload("b.png", png_claiming(8000, 7000))),
    Case("GIF bomb", 413, ("pixels",), file=upload("bomb.gif", gif_claiming(65_535, 65_535), "image/gif")),
    Case("zero-width PNG", 400, ("PNG", "header"), file=upload("z.png", png_claiming(0, 16), "image/png")),
    Case(
        "over-size upload",
        413,
        ("larger than the limit",),
        gateway="strict",
        file=upload("big.bmp", encode(NOISE, "BMP") * 1, "image/bmp"),
    ),
    # --- odd but valid images: must succeed --------------------------------------------------
    Case("CMYK JPEG", 200, file=upload("cmyk.jpg", encode(Image.new("CMYK", (48, 40), (0, 200, 200, 0)), "JPEG"))),
    Case(
        "16-bit PNG",
        200,
        file=upload(
            "deep.png",
            encode(Image.fromarray(np.linspace(0, 65535, 48 * 40, dtype=np.uint16).reshape(40, 48)), "PNG"),
            "image/png",
        ),
    ),
    Case(
        "palette PNG with transparency",
        200,
        file=upload("p.png", encode(Image.new("P", (48, 40), 3), "PNG", transparency=3), "image/png"),
    ),
    Case("animated GIF", 200, file=upload("anim.gif", animated_gif(), "image/gif")),
    Case("1x1 image", 200, file=upload("dot.png", encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), "image/png")),
    Case("EXIF-rotated JPEG", 200, file=upload("r.jpg", rotated_jpeg())),
    # --- url_image: schemes and local paths ---------------------------------------------------
    Case("file: URL", 400, ("file:",), endpoint="url", gateway="strict", url="file:///etc/passwd"),
    Case("ftp: URL", 400, ("ftp:",), endpoint="url", gateway="strict", url="ftp://127.0.0.1/a.jpg"),
    Case("gopher: URL", 400, ("gopher:",), endpoint="url", gateway="strict", url="gopher://127.0.0.1:70/_GET"),
    Case("bare path /etc/passwd", 400, ("local paths",), endpoint="url", gateway="strict", url="/etc/passwd"),
    Case(
        "path to an image on the server",
        400,
        ("local paths",),
        endpoint="url",
        gateway="strict",
        url=str(shared_image("dog1.jpg")),
    ),
    Case("URL without host", 400, ("host",), endpoint="url", gateway="strict", url="http:///etc/passwd"),
    # --- url_image: forbidden addresses (strict gateway, refused before connecting) -----------
    Case("127.0.0.1", 400, ("loopback",), endpoint="url", gateway="strict", url="http://127.0.0.1:1/a.jpg"),
    Case("[::1]", 400, ("loopback",), endpoint="url", gateway="strict", url="http://[::1]:1/a.jpg"),
    Case(
        "169.254.169.254",
        400,
        ("link-local",),
        endpoint="url",
        gateway="strict",
        url="http://169.254.169.254/latest/meta-data/",
    ),
    Case("10.0.0.1", 400, ("private",), endpoint="url", gateway="strict", url="http://10.0.0.1/a.jpg"),
    Case(
        "100.64.0.1 (CGNAT)",
        400,
        ("carrier-grade NAT",),
        endpoint="url",
        gateway="strict",
        url="http://100.64.0.1/a.jpg",
    ),
    Case("0x7f000001", 400, ("loopback",), endpoint="url", gateway="strict", url="http://0x7f000001/a.jpg"),
    Case("2130706433", 400, ("loopback",), endpoint="url", gateway="strict", url="http://2130706433/a.jpg"),
    Case(
        "IPv4-mapped loopback",
        400,
        ("loopback",),
        endpoint="url",
        gateway="strict",
        url="http://[::ffff:127.0.0.1]/a.jpg",
    ),
    Case(
        "localhost resolves to loopback",
        400,
        ("loopback",),
        endpoint="url",
        gateway="strict",
        url="http://localhost:1/a.jpg",
    ),
    # --- url_image: misbehaving servers (stack gateway, loopback allowlisted) -----------------
    Case(
        "redirect to metadata address",
        400,
        ("link-local",),
        endpoint="url",
        url="{hostile}/redirect?to=http://169.254.169.254/latest/meta-data/",
    ),
    Case(
        "redirect to private address", 400, ("private",), endpoint="url", url="{hostile}/redirect?to=http://10.0.0.1/"
    ),
    Case("redirect to file:", 400, ("file:",), endpoint="url", url="{hostile}/redirect?to=file:///etc/passwd"),
    Case("too many redirects", 502, ("redirected more than",), endpoint="url", url="{hostile}/hops/20"),
    Case("URL whose body is HTML", 415, ("HTML",), endpoint="url", url="{hostile}/html"),
    Case("endless body", 413, ("limit",), endpoint="url", url="{hostile}/endless"),
    Case("declared over-size body", 413, ("limit",), endpoint="url", url="{hostile}/big-declared"),
    Case("URL answering 404", 502, ("404",), endpoint="url", url="{hostile}/missing.jpg"),
    Case("nothing listening", 502, ("connection failed",), endpoint="url", url="{closed}/a.jpg"),
    Case(
        "URL that never answers", 504, ("did not answer within",), endpoint="url", gateway="strict", url="{slow}/hang"
    ),
    Case(
        "URL that trickles forever",
        504,
        (f"longer than {STRICT_FETCH_TOTAL_TIMEOUT_S:g} s",),
        endpoint="url",
        gateway="strict",
        url="{slow}/trickle",
    ),
    Case("URL to the gateway itself", 415, ("not an image",), endpoint="url", url="{self}/healthcheck"),
    Case("URL to the gateway's own infer route", 502, ("405",), endpoint="url", url="{self}/infer/url"),
    # --- access ---------------------------------------------------------------------------------
    Case("missing API key", 401, ("API key",), gateway="strict", file=upload("a.jpg", PHOTO)),
    Case("wrong API key", 401, ("not valid",), gateway="strict", file=upload("a.jpg", PHOTO)),
]


@pytest.fixture(scope="module")
def places(stack, strict_gateway, hostile_server, slow_server) -> dict[str, str]:
    from tests.support.ports import free_ports

    (closed,) = free_ports(1)
    return {
        "main": stack.gateway_url,
        "strict": strict_gateway.url,
        "hostile": hostile_server.url,
        "slow": slow_server.url,
        "self": stack.gateway_url,
        "closed": f"http://127.0.0.1:{closed}",
    }


def post(case: Case, places: dict[str, str]) -> requests.Response:
    headers = {}
    if case.gateway == "strict" and "API key" not in case.id:
        headers["X-API-Key"] = STRICT_API_KEY
    if case.id == "wrong API key":
        headers["Authorization"] = "Bearer not-the-key"
    data = dict(case.fields)
    if case.url is not None:
        data["url_image"] = case.url.format(**places)
    files = {"file": case.file} if case.file is not None else None
    return requests.post(
        f"{places[case.gateway]}/infer/{case.endpoint}", data=data, files=files, headers=headers, timeout=TIMEOUT_S
    )


def test_the_table_is_big_enough() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, places: dict[str, str]) -> None:
    response = post(case, places)
    body = orjson.loads(response.content)
    assert response.status_code == case.status, body
    if case.status == 200:
        assert body["Status"] == "OK"
        segmentation = np.asarray(body["requested_results"]["segmentation_map"])
        assert segmentation.shape == (512, 512)
        return
    detail = body["detail"]
    assert isinstance(detail, str) and set(body) == {"detail"}
    for word in case.words:
        assert word.lower() in detail.lower(), detail
    assert "Traceback" not in detail and "/work/" not in detail
    if case.status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_over_size_upload_really_is_over_the_limit() -> None:
    case = next(case for case in CASES if case.id == "over-size upload")
    assert case.file is not None and len(case.file[1]) > STRICT_MAX_UPLOAD_BYTES + 64 * 1024


def test_both_gateways_still_healthy_and_logged_no_trace(places: dict[str, str], strict_gateway) -> None:
    for gateway in ("main", "strict"):
        response = requests.get(f"{places[gateway]}/healthcheck", timeout=10)
        assert response.status_code == 200 and response.json() == {"status": "live"}
    log = strict_gateway.log_text()
    assert "Traceback" not in log
    assert "/etc/passwd" not in log
