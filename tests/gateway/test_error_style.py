"""Every answer's error in one style (gateway/errors.py), in process, with no Triton behind the app.

Starlette's own form-parsing messages are restyled, bad values are echoed cut short, HEAD works on the
liveness probe.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.core.config import Settings
from gateway.errors import SHOWN_MAX_CHARS, restyle, shown
from gateway.main import create_app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with socket.socket() as probe:  # a port nobody listens on: Triton is "down"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with TestClient(
        create_app(Settings(triton_url=f"127.0.0.1:{port}", triton_ready_timeout_s=0.3)), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def _is_in_style(detail: str) -> bool:
    return bool(detail) and not detail[0].isupper() and not detail.endswith(".")


def test_too_many_form_fields_is_answered_in_the_gateways_style(client: TestClient) -> None:
    fields = "&".join(f"f{index}=x" for index in range(1001))
    response = client.post("/infer/url", content=fields, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.json()["detail"] == "the form has too many fields; the limit is 1000"


def test_a_form_field_over_starlettes_part_limit_is_answered_in_the_gateways_style(client: TestClient) -> None:
    response = client.post(
        "/infer/url",
        data={"infer_model_type": "onnx", "url_image": "x" * (1024 * 1024 + 1)},
        files={"unused": ("a.txt", b"a")},
    )
    assert response.status_code == 400
    assert (
        response.json()["detail"] == "a form field is larger than the limit of 1024 KiB (send a photo as a file part)"
    )


def test_a_broken_multipart_body_is_answered_in_the_gateways_style(client: TestClient) -> None:
    response = client.post(
        "/infer/file",
        content=b"--b\r\nnot a part header\r\n\r\nxx",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400
    assert _is_in_style(response.json()["detail"]), response.json()


def test_a_huge_bad_value_is_echoed_cut_short(client: TestClient) -> None:
    response = client.post(
        "/infer/file", data={"infer_model_type": "x" * 900_000}, files={"file": ("a.jpg", b"\xff\xd8\xff")}
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("unknown infer_model_type 'xxx")
    assert len(detail) < SHOWN_MAX_CHARS + 100


def test_shown_cuts_and_makes_printable() -> None:
    assert shown("onnx") == "onnx"
    assert shown("a\nb\x00") == "a?b?"
    cut = shown("y" * 1000)
    assert len(cut) == SHOWN_MAX_CHARS + 1 and cut.endswith("…")


@pytest.mark.parametrize(
    ("framework", "ours"),
    [
        ("Not Found", "not found"),
        ("Method Not Allowed", "method not allowed"),
        ("Invalid multipart data.", "the body is not a valid multipart form"),
        ("Missing boundary in multipart.", "the multipart form has no boundary in its Content-Type"),
        ("Too many files. Maximum number of files is 1000.", "the form has too many files; the limit is 1000"),
    ],
)
def test_restyle(framework: str, ours: str) -> None:
    assert restyle(framework) == ours


def test_head_on_the_liveness_probe(client: TestClient) -> None:
    response = client.head("/healthcheck")
    assert response.status_code == 200 and response.content == b""


def test_a_method_not_allowed_is_in_style(client: TestClient) -> None:
    response = client.get("/infer/file")
    assert response.status_code == 405 and response.json() == {"detail": "method not allowed"}
