"""POST /infer/files over real HTTP: one batch, results in order, equal to single answers, bad files alone."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest

from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)

BACKEND = "onnx"
PHOTOS = ("dog1.jpg", "dog2.jpg")


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.gateway_url, timeout=300, trust_env=False) as client:
        yield client


def files_of(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (name, data, "application/octet-stream")) for name, data in items]


def photo(name: str) -> tuple[str, bytes]:
    return name, shared_image(name).read_bytes()


def single(http: httpx.Client, name: str, **form) -> dict:
    response = http.post("/infer/file", data={"infer_model_type": BACKEND, **form}, files=files_of(photo(name)))
    assert response.status_code == 200, response.text[:300]
    return orjson.loads(response.content)


def batch(http: httpx.Client, items, **form) -> httpx.Response:
    return http.post("/infer/files", data={"infer_model_type": BACKEND, **form}, files=files_of(*items))


@pytest.mark.parametrize(
    "form",
    [
        {"response_format": "summary"},
        {"response_format": "json", "requested_results_types": "segmentation_map"},
    ],
)
def test_batch_results_equal_single_results_in_order(http, form):
    response = batch(http, [photo(name) for name in PHOTOS], **form)
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert (body["Status"], body["succeeded"], body["failed"]) == ("OK", 2, 0)
    assert body["response_format"] == form["response_format"]
    assert [item["filename"] for item in body["results"]] == list(PHOTOS)
    assert [item["index"] for item in body["results"]] == [0, 1]
    for name, item in zip(PHOTOS, body["results"], strict=True):
        assert item["status"] == 200
        expected = single(http, name, **form)
        if "classes" in expected:  # confidences are floats summed in another order: compare them approximately
            for got, want in zip(item["result"]["classes"], expected["classes"], strict=True):
                assert got["mean_confidence"] == pytest.approx(want.pop("mean_confidence"), rel=1e-5)
                got.pop("mean_confidence")
        assert item["result"] == expected


def test_a_bad_file_gets_its_own_error_without_failing_the_others(http):
    items = [photo("dog1.jpg"), ("notes.txt", b"this is not an image"), ("empty.jpg", b""), photo("dog2.jpg")]
    response = batch(http, items, response_format="summary")
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 2)
    statuses = [item["status"] for item in body["results"]]
    assert statuses[0] == statuses[3] == 200
    for bad in body["results"][1:3]:
        assert bad["status"] in (400, 415)
        assert bad["detail"]
        assert "result" not in bad
    good = body["results"][3]["result"]
    expected = single(http, "dog2.jpg", response_format="summary")
    assert [entry["pixel_count"] for entry in good["classes"]] == [
        entry["pixel_count"] for entry in expected["classes"]
    ]


def test_every_copy_in_a_batch_gets_the_same_answer_in_order(http):
    count = 4  # frugal: 8 (the default GATEWAY_MAX_BATCH_FILES) is ~1 GB of probabilities on 2 cores
    names = [f"copy{index}.jpg" for index in range(count)]
    response = batch(http, [(name, photo("dog1.jpg")[1]) for name in names], response_format="summary")
    assert response.status_code == 200, response.text[:300]
    results = response.json()["results"]
    assert [item["filename"] for item in results] == names
    counts = [[(entry["id"], entry["pixel_count"]) for entry in item["result"]["classes"]] for item in results]
    assert all(item == counts[0] for item in counts)  # the same photo gets the same answer at every position


def test_binary_formats_cannot_be_batched(http):
    response = batch(http, [photo("dog1.jpg")], response_format="png")
    assert response.status_code == 400
    assert "json, summary" in response.json()["detail"]


def test_too_many_files_are_refused(http):
    response = batch(http, [("tiny.png", b"x")] * 9, response_format="summary")
    assert response.status_code == 413
    assert "limit is 8" in response.json()["detail"]


def test_a_batch_too_big_to_answer_is_refused_before_inference(http):
    # Four photos with all three results (the default) would be ~1 GB of JSON.
    response = batch(http, [photo("dog1.jpg")] * 4, response_format="json")
    assert response.status_code == 413
    assert "segmentation_map" in response.json()["detail"]


def test_json_batch_maps_are_arrays_of_the_model_size(http):
    body = batch(http, [photo("dog1.jpg")], requested_results_types="segmentation_map").json()
    segmentation_map = np.asarray(body["results"][0]["result"]["requested_results"]["segmentation_map"])
    assert segmentation_map.shape == (512, 512)
    # ...and the very map /infer/file answers for that photo alone
    alone = single(http, "dog1.jpg", requested_results_types="segmentation_map")["requested_results"]
    np.testing.assert_array_equal(segmentation_map, np.asarray(alone["segmentation_map"]))
