"""SegmentationClient against the running gateway: every input kind, both backends, the result type."""

from __future__ import annotations

import http.server
import re
import threading

import numpy as np
import pytest
from PIL import Image

from client import GatewayError, SegmentationClient, SegmentationResult
from client.gateway_client import retry_delay
from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)

PHOTO = "dog2.jpg"
SIZE = 512


@pytest.fixture(scope="module")
def from_path(gateway_client: SegmentationClient) -> SegmentationResult:
    return gateway_client.segment(shared_image(PHOTO), backend="torch")


def test_a_path_gives_a_map_with_labels(from_path: SegmentationResult) -> None:
    assert from_path.segmentation_map.shape == (SIZE, SIZE)
    assert from_path.segmentation_map.dtype == np.uint8
    assert len(from_path.labels) == 21 and from_path.labels[12] == "dog"
    assert (from_path.model, from_path.backend) == ("deeplabv3", "torch")
    assert from_path.logits is None and from_path.distribution is None


def test_mask_image_is_a_palette_picture_of_the_map(from_path: SegmentationResult) -> None:
    mask = from_path.mask_image()
    assert mask.mode == "P" and mask.size == (SIZE, SIZE)
    np.testing.assert_array_equal(np.asarray(mask), from_path.segmentation_map)
    assert mask.getpalette()[:6] == [0, 0, 0, 128, 0, 0]  # VOC: background black, aeroplane dark red
    assert sum(from_path.class_fractions().values()) == pytest.approx(1.0)


def test_str_path_bytes_and_url_give_the_same_map(
    gateway_client: SegmentationClient, from_path: SegmentationResult, photos_url: str
) -> None:
    for image in (str(shared_image(PHOTO)), shared_image(PHOTO).read_bytes(), f"{photos_url}/{PHOTO}"):
        result = gateway_client.segment(image, backend="torch")
        np.testing.assert_array_equal(result.segmentation_map, from_path.segmentation_map)


def test_pil_image_and_numpy_array_give_the_same_map(gateway_client: SegmentationClient) -> None:
    picture = Image.open(shared_image(PHOTO)).convert("RGB")
    from_pil = gateway_client.segment(picture, backend="onnx")
    from_array = gateway_client.segment(np.asarray(picture), backend="onnx")
    np.testing.assert_array_equal(from_pil.segmentation_map, from_array.segmentation_map)
    assert from_pil.segmentation_map.shape == (SIZE, SIZE)


def test_all_results_as_exact_arrays(gateway_client: SegmentationClient) -> None:
    result = gateway_client.segment(
        shared_image(PHOTO), backend="onnx", results=("logits", "pixels_distribution", "segmentation_map")
    )
    assert result.logits.shape == result.distribution.shape == (21, SIZE, SIZE)
    assert result.logits.dtype == result.distribution.dtype == np.float32
    np.testing.assert_allclose(result.distribution.sum(axis=0), 1.0, atol=1e-4)
    assert (result.logits.argmax(axis=0) == result.segmentation_map).mean() >= 0.999


def test_backends_agree(gateway_client: SegmentationClient, from_path: SegmentationResult) -> None:
    onnx = gateway_client.segment(shared_image(PHOTO), backend="onnx")
    assert (onnx.segmentation_map == from_path.segmentation_map).mean() >= 0.99


def test_errors_carry_status_and_detail(gateway_client: SegmentationClient) -> None:
    with pytest.raises(GatewayError) as raised:
        gateway_client.segment(shared_image(PHOTO), backend="caffe")
    assert raised.value.status_code == 400
    assert "caffe" in raised.value.detail


def test_models_and_readiness(gateway_client: SegmentationClient) -> None:
    assert gateway_client.ready()
    assert "deeplabv3" in gateway_client.models()["models"]


def test_a_map_only_result_carries_the_summary_and_says_the_weights_are_random(
    gateway_client: SegmentationClient,
) -> None:
    result = gateway_client.segment(shared_image(PHOTO))  # the defaults: onnx, mask at the model's size
    assert result.backend == "onnx" and result.segmentation_map.shape == (SIZE, SIZE)
    assert result.weights_random is True  # the test repository's default family has random weights
    assert {"weights", "classes", "image_size", "mask_size"} <= set(result.summary)
    counts = {entry["id"]: entry["pixel_count"] for entry in result.summary["classes"]}
    ids, pixels = np.unique(result.segmentation_map, return_counts=True)
    assert counts == dict(zip(ids.tolist(), pixels.tolist(), strict=True))
    real = gateway_client.segment(shared_image(PHOTO), model="voc_mnv2")
    assert real.weights_random is False and real.model == "voc_mnv2"
    assert "dog" in real.class_fractions()


def test_segment_many_batches_files_keeps_order_and_fails_alone(
    gateway_client: SegmentationClient, photos_url: str, tmp_path
) -> None:
    missing = tmp_path / "missing.jpg"
    images = [shared_image("dog1.jpg"), b"not an image", missing, f"{photos_url}/{PHOTO}", shared_image(PHOTO)]
    outcomes = gateway_client.segment_many(images, batch_size=2)
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "SegmentationResult",
        "GatewayError",
        "FileNotFoundError",
        "SegmentationResult",
        "SegmentationResult",
    ]
    assert outcomes[1].status_code == 415
    alone = gateway_client.segment(shared_image("dog1.jpg"))
    np.testing.assert_array_equal(outcomes[0].segmentation_map, alone.segmentation_map)
    np.testing.assert_array_equal(outcomes[3].segmentation_map, outcomes[4].segmentation_map)
    assert outcomes[4].summary["image_type"] == "file" and outcomes[3].summary["image_type"] == "url"


class _Busy(http.server.BaseHTTPRequestHandler):
    """Answers every request 503 with Retry-After: 0, as an overloaded gateway does."""

    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        body = b'{"detail": "too many requests in flight; retry later"}'
        self.send_response(503)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_503_is_retried_a_bounded_number_of_times_after_retry_after() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with (
            SegmentationClient(f"http://127.0.0.1:{server.server_address[1]}", retries=2) as client,
            pytest.raises(GatewayError) as raised,
        ):
            client.segment(b"any bytes")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert raised.value.status_code == 503 and "retry later" in raised.value.detail
    assert _Busy.calls == 3  # the first try and two retries, then the error


def test_retry_delay_follows_retry_after_within_bounds() -> None:
    assert retry_delay("2", cap=30) == 2.0
    assert retry_delay(None, cap=30) == 1.0
    assert retry_delay("Wed, 21 Oct 2015 07:28:00 GMT", cap=30) == 1.0
    assert retry_delay("3600", cap=30) == 30
    assert retry_delay("-5", cap=30) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be an integer >= 0, got -1"),
        ({"retries": 1.5}, "retries must be an integer >= 0"),
        ({"timeout": 0}, "timeout must be a finite number of seconds > 0, got 0"),
        ({"timeout": -1.0}, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("nan")}, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("inf")}, "timeout must be a finite number of seconds > 0"),
        ({"max_retry_wait": -1}, "max_retry_wait must be a finite number of seconds >= 0"),
    ],
)
def test_bad_retries_and_timeouts_are_refused_at_construction(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SegmentationClient("http://127.0.0.1:9", **options)


def test_retries_set_later_are_checked_too() -> None:
    with SegmentationClient("http://127.0.0.1:9", retries=0) as client:
        with pytest.raises(ValueError, match="retries must be an integer >= 0"):
            client.retries = -1
        assert client.retries == 0
