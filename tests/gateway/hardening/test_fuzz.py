"""Property-based fuzzing of every endpoint in the gateway's OpenAPI document, for a bounded number of
examples: whatever the form fields and bytes, the answer is never a 5xx other than 503/504, errors are
``{"detail": str}``, and the gateway keeps answering.

It runs against ``strict_gateway`` (no loopback allowlist) and url_image is built only from hosts that
are refused before any connection or DNS query (literal non-public addresses and ``localhost``), so
fuzzing never sends traffic anywhere.
"""

from __future__ import annotations

import io
import random

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.gateway.hardening.conftest import STRICT_API_KEY

pytestmark = pytest.mark.timeout(300)

EXAMPLES = 40
TIMEOUT_S = 60
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY = {"X-API-Key": STRICT_API_KEY}


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 90).save(buffer, fmt)
    return buffer.getvalue()


VALID = [
    _image("JPEG"),
    _image("PNG", "RGBA"),
    _image("GIF", "P"),
    _image("BMP"),
    _image("WEBP"),
    _image("TIFF", "I;16"),
    _image("PNG", "1", (1, 1)),
]


@st.composite
def mutated_image(draw: st.DrawFn) -> bytes:
    """A valid small image with a few bytes flipped, cut short or extended: near-miss inputs."""
    data = bytearray(draw(st.sampled_from(VALID)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(0, 6))):
        data[rng.randrange(len(data))] = rng.randrange(256)
    cut = draw(st.integers(0, len(data)))
    return bytes(data[: max(cut, 3)]) if draw(st.booleans()) else bytes(data)


SAFE_HOSTS = [
    "127.0.0.1",
    "[::1]",
    "10.0.0.1",
    "169.254.169.254",
    "0x7f000001",
    "2130706433",
    "127.1",
    "localhost",
    "0.0.0.0",
    "[::ffff:127.0.0.1]",
    "100.64.0.1",
    "224.0.0.1",
    "[fe80::1]",
    "192.168.0.1",
]


@st.composite
def refused_url(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "ftp", "file", "gopher", "javascript", "data", ""]))
    host = draw(st.sampled_from(SAFE_HOSTS))
    port = draw(st.sampled_from(["", ":1", ":80", ":65535", ":99999", ":x"]))
    path = draw(st.text(alphabet=st.characters(codec="ascii", exclude_characters="\r\n\x00"), max_size=30))
    prefix = f"{scheme}://" if scheme else draw(st.sampled_from(["", "//", "/"]))
    return f"{prefix}{host}{port}/{path}"


text = st.text(max_size=40)
backend = st.one_of(st.sampled_from(["torch", "onnx", "", "TORCH", "onnx "]), text)
result_types = st.one_of(
    st.none(),
    st.lists(st.one_of(st.sampled_from(["logits", "pixels_distribution", "segmentation_map", ""]), text), max_size=4),
    st.just("segmentation_map,segmentation_map"),
)
optional_text = st.one_of(
    st.none(), st.sampled_from(["json", "png", "summary", "npz", "original", "model", "0x0"]), text
)


@st.composite
def form(draw: st.DrawFn) -> dict[str, object]:
    fields: dict[str, object] = {}
    for name, strategy in (
        ("infer_model_type", backend),
        ("requested_results_types", result_types),
        ("response_format", optional_text),
        ("mask_size", optional_text),
        ("model", optional_text),
        ("legend", optional_text),
    ):
        value = draw(strategy) if name == "infer_model_type" or draw(st.booleans()) else None
        if value is not None:
            fields[name] = value
    # Mostly a valid map-only request, so the decoder and not only the form checks gets fuzzed.
    if draw(st.integers(0, 2)) == 0:
        fields.update(infer_model_type="onnx", requested_results_types=["segmentation_map"], response_format="json")
    return fields


def check(response: requests.Response) -> None:
    assert response.status_code < 500 or response.status_code in (503, 504), response.text[:300]
    if response.status_code >= 400:
        body = response.json()
        # The Open Inference Protocol's routes answer its {"error": ...}; the middleware before them, the gateway's.
        allowed = ({"error"}, {"detail"}) if "/v2" in (response.request.path_url or "") else ({"detail"},)
        assert set(body) in [set(keys) for keys in allowed], body
        (message,) = body.values()
        assert isinstance(message, str) and message and "Traceback" not in message


@pytest.fixture(scope="module")
def api(strict_gateway) -> str:
    return strict_gateway.url


@pytest.fixture(scope="module")
def operations(api: str) -> list[tuple[str, str, str | None]]:
    """(method, path, request content type) for every operation the OpenAPI document describes."""
    spec = requests.get(f"{api}/openapi.json", timeout=TIMEOUT_S).json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = list(operation.get("requestBody", {}).get("content", {})) or [None]
            found.append((method.upper(), path, content[0]))
    assert ("POST", "/infer/file", "multipart/form-data") in found
    return found


def test_every_operation_survives_garbage(api: str, operations: list[tuple[str, str, str | None]]) -> None:
    garbage = [b"", b"\x00" * 100, b"--x\r\n\r\n", b"infer_model_type=onnx&&&=%%", "ü€".encode() * 50]
    for method, path, content_type in operations:
        for body in garbage:
            headers = {**KEY, "Content-Type": content_type or "application/octet-stream"}
            check(requests.request(method, f"{api}{path}", data=body, headers=headers, timeout=TIMEOUT_S))


@FUZZ
@given(fields=form(), image=st.one_of(mutated_image(), st.binary(max_size=600)))
def test_fuzz_infer_file(api: str, fields: dict[str, object], image: bytes) -> None:
    check(
        requests.post(
            f"{api}/infer/file", data=fields, files={"file": ("f.jpg", image)}, headers=KEY, timeout=TIMEOUT_S
        )
    )


@FUZZ
@given(fields=form(), url=refused_url())
def test_fuzz_infer_url(api: str, fields: dict[str, object], url: str) -> None:
    response = requests.post(f"{api}/infer/url", data={**fields, "url_image": url}, headers=KEY, timeout=TIMEOUT_S)
    check(response)
    assert response.status_code != 200  # every host offered is refused before connecting


@FUZZ
@given(fields=form(), images=st.lists(st.one_of(mutated_image(), st.binary(max_size=200)), max_size=3))
def test_fuzz_infer_batch(api: str, fields: dict[str, object], images: list[bytes]) -> None:
    files = [("file", (f"f{index}.png", data)) for index, data in enumerate(images)]
    check(requests.post(f"{api}/infer/files", data=fields, files=files or None, headers=KEY, timeout=TIMEOUT_S))


def test_still_healthy_after_fuzzing(api: str, strict_gateway) -> None:
    assert requests.get(f"{api}/healthcheck", timeout=10).status_code == 200
    assert strict_gateway.process.poll() is None
    assert "Traceback" not in strict_gateway.log_text()
