"""No answer tells a client where the server keeps its files or which software versions it runs.

One request to every endpoint and in every response format, on both model families of the test stack (the
random-weights default and the real VOC model exported from a file), plus error answers; the raw bytes of
each answer must not contain the repository's absolute path, the project's, or the shared assets' folder.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.paths import REPO_ROOT, shared_dir, shared_image

pytestmark = pytest.mark.timeout(600)

FORMATS = ("json", "summary", "png", "overlay", "overlay_jpeg", "npz")
FAMILIES = ("deeplabv3", "voc_mnv2")


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.gateway_url, timeout=300, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def forbidden(stack) -> list[bytes]:
    paths = {stack.repository.resolve(), stack.run_dir.resolve(), REPO_ROOT.resolve(), shared_dir()}
    return sorted({str(path).encode() for path in paths})


def check(response: httpx.Response, forbidden: list[bytes]) -> None:
    for path in forbidden:
        assert path not in response.content, f"{response.request.url} answered with the server path {path!r}"


@pytest.fixture(scope="module")
def photo() -> bytes:
    return shared_image("dog2.jpg").read_bytes()


@pytest.mark.parametrize(
    "path", ["/healthcheck", "/ready", "/models", "/metrics", "/openapi.json", "/docs", "/redoc", "/", "/static/app.js"]
)
def test_get_endpoints(http: httpx.Client, forbidden: list[bytes], path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200, response.text[:300]
    check(response, forbidden)


def test_models_tells_the_kind_of_weights_and_no_versions(http: httpx.Client) -> None:
    catalogue = http.get("/models").json()
    for family in FAMILIES:
        for backend in catalogue["models"][family]["backends"].values():
            assert set(backend) == {"model", "max_batch_size", "weights"}, backend
            assert backend["weights"]["kind"] in ("random", "file")
    text = http.get("/models").text
    for word in ("versions", "torch==", "onnxruntime", "python", "manifest", "/"):
        assert word not in text.replace("/models", ""), word


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("response_format", FORMATS)
def test_every_format_of_every_family(
    http: httpx.Client, forbidden: list[bytes], photo: bytes, family: str, response_format: str
) -> None:
    data = {
        "infer_model_type": "onnx",
        "model": family,
        "response_format": response_format,
        "requested_results_types": "segmentation_map",
    }
    response = http.post("/infer/file", data=data, files={"file": ("dog2.jpg", photo, "image/jpeg")})
    assert response.status_code == 200, response.text[:300]
    check(response, forbidden)


def test_batch_and_error_answers(http: httpx.Client, forbidden: list[bytes], photo: bytes) -> None:
    answers = [
        http.post(
            "/infer/files",
            data={"infer_model_type": "onnx", "response_format": "summary"},
            files=[("file", ("a.jpg", photo, "image/jpeg")), ("file", ("b.jpg", b"not an image", "image/jpeg"))],
        ),
        http.post(
            "/infer/file",
            data={"infer_model_type": "onnx", "model": "nope"},
            files={"file": ("a.jpg", photo, "image/jpeg")},
        ),
        http.post(
            "/infer/file", data={"infer_model_type": "onnx"}, files={"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}
        ),
        http.post("/infer/url", data={"infer_model_type": "onnx", "url_image": f"file://{REPO_ROOT}/README.md"}),
        http.post("/infer/url", data={"infer_model_type": "onnx", "url_image": "http://127.0.0.1:1/x.jpg"}),
        http.get("/static/../../README.md"),
    ]
    assert [answer.status_code for answer in answers][:1] == [200]
    assert all(answer.status_code >= 400 for answer in answers[1:]), [a.status_code for a in answers]
    for answer in answers:
        check(answer, forbidden)
