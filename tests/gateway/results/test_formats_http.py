"""Every response format and mask size over real HTTP against the embedded stack, on a real photo.

They run on the real PASCAL VOC model of the test repository (family voc_mnv2, from the shared models
folder: tests/support/paths.py), so the photo really holds several classes. Frugal: score arrays (22 MB as
npz, ~110 MB as JSON) are fetched once each, everything else asks only for the segmentation map.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import orjson
import pytest
from PIL import Image

from tests.support.paths import shared_image

pytestmark = pytest.mark.timeout(600)

BACKEND = "onnx"  # the faster backend on CPU; the formats do not depend on it
FAMILY = "voc_mnv2"  # real weights (tests/support/exported_repository.py)


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.gateway_url, timeout=300, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return shared_image("dog1.jpg").read_bytes()


@pytest.fixture(scope="module")
def photo_size(photo_bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(photo_bytes)).size


def infer(http: httpx.Client, photo: bytes, headers: dict | None = None, **form) -> httpx.Response:
    data = {"infer_model_type": BACKEND, "model": FAMILY, **form}
    response = http.post("/infer/file", data=data, files={"file": ("dog1.jpg", photo, "image/jpeg")}, headers=headers)
    assert response.status_code == 200, response.text[:500]
    return response


def decode_png(response: httpx.Response) -> Image.Image:
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


@pytest.fixture(scope="module")
def json_map(http, photo_bytes) -> np.ndarray:
    body = infer(http, photo_bytes, requested_results_types="segmentation_map").json()
    return np.asarray(body["requested_results"]["segmentation_map"], dtype=np.uint8)


@pytest.fixture(scope="module")
def original_png_map(http, photo_bytes) -> np.ndarray:
    return np.asarray(decode_png(infer(http, photo_bytes, response_format="png", mask_size="original")))


@pytest.fixture(scope="module")
def family(http) -> dict:
    models = http.get("/models").json()["models"]
    assert FAMILY in models, f"the test repository should serve the real VOC model; served: {sorted(models)}"
    return models[FAMILY]


@pytest.fixture(scope="module")
def labels(family) -> list[str]:
    return family["labels"]


@pytest.fixture(scope="module")
def model_size(family) -> tuple[int, int]:
    """(width, height) of the model's input, i.e. of every array at mask_size=model."""
    height, width = family["input_size"]
    return width, height


def test_png_mask_decodes_to_the_json_class_ids(http, photo_bytes, json_map, labels, model_size):
    mask = decode_png(infer(http, photo_bytes, response_format="png"))
    assert mask.mode == "P" and mask.size == model_size
    np.testing.assert_array_equal(np.asarray(mask), json_map)
    assert mask.getpalette()[12 * 3 : 12 * 3 + 3] == [64, 0, 128]  # VOC's dog colour
    assert mask.text["labels"].split(",") == labels


def test_accept_image_png_gives_the_same_mask(http, photo_bytes, json_map):
    mask = decode_png(infer(http, photo_bytes, headers={"Accept": "image/png"}))
    np.testing.assert_array_equal(np.asarray(mask), json_map)


def test_mask_size_original_has_the_photos_size(http, photo_bytes, photo_size, json_map, original_png_map):
    width, height = photo_size
    assert original_png_map.shape == (height, width)
    body = infer(http, photo_bytes, requested_results_types="segmentation_map", mask_size="original").json()
    np.testing.assert_array_equal(np.asarray(body["requested_results"]["segmentation_map"]), original_png_map)
    # Nearest neighbour invents no class: the same ids as at the model's size.
    assert set(np.unique(original_png_map)) <= set(np.unique(json_map))


@pytest.mark.parametrize("response_format, image_format", [("overlay", "PNG"), ("overlay_jpeg", "JPEG")])
def test_overlay_has_the_photos_size(http, photo_bytes, photo_size, response_format, image_format):
    overlay = Image.open(io.BytesIO(infer(http, photo_bytes, response_format=response_format).content))
    assert overlay.format == image_format
    assert overlay.size == photo_size
    photo = np.asarray(Image.open(io.BytesIO(photo_bytes)).convert("RGB"), dtype=np.int16)
    assert np.abs(np.asarray(overlay.convert("RGB"), dtype=np.int16) - photo).mean() > 1  # something was painted


def test_overlay_legend_is_optional(http, photo_bytes):
    with_legend = np.asarray(
        Image.open(io.BytesIO(infer(http, photo_bytes, response_format="overlay", legend="true").content))
    )
    without = np.asarray(
        Image.open(io.BytesIO(infer(http, photo_bytes, response_format="overlay", legend="false").content))
    )
    assert with_legend.shape == without.shape
    changed_rows, changed_columns = np.nonzero(np.any(with_legend != without, axis=-1))
    assert changed_rows.size > 0  # the legend is drawn...
    height, width = without.shape[:2]
    # ...in the top-left corner only: everywhere else the two overlays are the same pixels
    assert changed_rows.max() < height // 2 and changed_columns.max() < width // 2


def test_summary_fractions_sum_to_one_and_match_the_map(http, photo_bytes, photo_size, json_map, labels, model_size):
    summary = infer(http, photo_bytes, response_format="summary").json()
    ids, counts = np.unique(json_map, return_counts=True)
    assert {entry["id"]: entry["pixel_count"] for entry in summary["classes"]} == dict(
        zip(ids.tolist(), counts.tolist(), strict=True)
    )
    assert sum(entry["pixel_fraction"] for entry in summary["classes"]) == pytest.approx(1.0, abs=1e-9)
    for entry in summary["classes"]:
        assert entry["name"] == labels[entry["id"]]
        assert entry["pixel_fraction"] == pytest.approx(entry["pixel_count"] / json_map.size)
        assert 0 < entry["mean_confidence"] <= 1
    assert summary["image_size"] == {"width": photo_size[0], "height": photo_size[1]}
    assert summary["mask_size"] == {"mode": "model", "width": model_size[0], "height": model_size[1]}
    assert (summary["model"]["family"], summary["model"]["backend"]) == (FAMILY, BACKEND)
    # From the model's Triton config: the real VOC model was exported from a file, named by base name and hash.
    assert (summary["weights"]["kind"], summary["weights"]["file"]) == ("file", "model.onnx")
    assert len(summary["weights"]["sha256"]) == 64
    assert summary["weights"]["weights_are_random"] is False


def test_summary_names_what_is_in_the_photo(http, photo_bytes):
    # The model's SOURCE.md (shared models folder) measured background 0.55, person 0.24, dog 0.21.
    summary = infer(http, photo_bytes, response_format="summary").json()
    fractions = {entry["name"]: entry["pixel_fraction"] for entry in summary["classes"]}
    assert fractions["background"] == pytest.approx(0.55, abs=0.06)
    assert fractions["person"] == pytest.approx(0.24, abs=0.06)
    assert fractions["dog"] == pytest.approx(0.21, abs=0.06)
    assert [entry["name"] for entry in summary["classes"]][:3] == ["background", "person", "dog"]


def test_summary_at_original_size_matches_the_original_mask(http, photo_bytes, original_png_map):
    summary = infer(http, photo_bytes, response_format="summary", mask_size="original").json()
    ids, counts = np.unique(original_png_map, return_counts=True)
    assert {entry["id"]: entry["pixel_count"] for entry in summary["classes"]} == dict(
        zip(ids.tolist(), counts.tolist(), strict=True)
    )
    assert sum(entry["pixel_fraction"] for entry in summary["classes"]) == pytest.approx(1.0, abs=1e-9)


def test_npz_arrays_equal_the_json_ones(http, photo_bytes, labels, model_size):
    requested = ["pixels_distribution", "segmentation_map"]
    response = infer(http, photo_bytes, requested_results_types=requested, response_format="npz")
    assert response.headers["content-type"] == "application/x-npz"
    with np.load(io.BytesIO(response.content)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    assert set(arrays) == {*requested, "labels"}
    assert arrays["labels"].tolist() == labels
    assert arrays["pixels_distribution"].dtype == np.float32
    assert arrays["pixels_distribution"].shape == (len(labels), model_size[1], model_size[0])
    assert arrays["segmentation_map"].dtype == np.uint8

    body = orjson.loads(infer(http, photo_bytes, requested_results_types=requested).content)["requested_results"]
    np.testing.assert_array_equal(np.asarray(body["segmentation_map"], dtype=np.uint8), arrays["segmentation_map"])
    # orjson writes each float32 in its shortest round-tripping form: parsing it back is exact.
    np.testing.assert_array_equal(
        np.asarray(body["pixels_distribution"], dtype=np.float32), arrays["pixels_distribution"]
    )


def test_npz_scores_at_original_size_are_resized_per_class(http, photo_bytes, photo_size, original_png_map, labels):
    response = infer(
        http,
        photo_bytes,
        requested_results_types="pixels_distribution,segmentation_map",
        response_format="npz",
        mask_size="original",
    )
    with np.load(io.BytesIO(response.content)) as archive:
        distribution, segmentation_map = archive["pixels_distribution"], archive["segmentation_map"]
    width, height = photo_size
    assert distribution.shape == (len(labels), height, width)
    np.testing.assert_allclose(distribution.sum(axis=0), 1.0, atol=1e-3)
    np.testing.assert_array_equal(segmentation_map, original_png_map)


def test_unknown_format_and_mask_size_are_refused_by_name(http, photo_bytes):
    for form, named in (({"response_format": "gif"}, "overlay_jpeg"), ({"mask_size": "huge"}, "original")):
        response = http.post(
            "/infer/file",
            data={"infer_model_type": BACKEND, "model": FAMILY, **form},
            files={"file": ("dog1.jpg", photo_bytes, "image/jpeg")},
        )
        assert response.status_code == 400
        assert named in response.json()["detail"]
