"""Format negotiation and rendering of hand-made results (no Triton)."""

import io
import typing

import numpy as np
import orjson
import pytest
from PIL import Image

from gateway.domain import MASK_SIZES, MaskSize, RenderOptions, ResponseFormat
from gateway.errors import BadRequest
from gateway.results import registry
from gateway.results.registry import FORMATS, at_answer_size, negotiate, render, required_results
from gateway.results.resize import check_mask_size


@pytest.mark.parametrize(
    "response_format, accept, expected",
    [
        (None, None, "json"),
        (None, "*/*", "json"),
        ("", "application/json", "json"),
        ("SUMMARY", None, "summary"),
        ("png", "image/jpeg", "png"),  # the field wins over Accept
        (None, "image/png", "png"),
        (None, "text/html, image/jpeg;q=0.9, image/png;q=0.5", "overlay_jpeg"),
        (None, "image/png;q=0, application/x-npz", "npz"),
        (None, "text/html", "json"),  # the JSON answer for anything else
    ],
)
def test_negotiate(response_format, accept, expected):
    assert negotiate(response_format, accept) == expected


def test_unknown_format_names_the_allowed_ones():
    with pytest.raises(BadRequest) as error:
        negotiate("gif", None)
    assert "'gif'" in error.value.detail
    for name in registry.FORMATS:
        assert name in error.value.detail


def test_required_results_per_format():
    assert required_results("json", ("logits",)) == ("logits",)
    assert required_results("npz", ()) == ("logits", "pixels_distribution", "segmentation_map")
    assert required_results("png", ("logits",)) == ("segmentation_map",)
    assert required_results("overlay", ()) == ("segmentation_map",)
    assert set(required_results("summary", ())) == {"segmentation_map", "confidence"}  # one plane, not 21
    assert set(required_results("bundle", ())) == {"segmentation_map", "confidence"}


def test_png_render_decodes_to_the_class_ids(quarters_map, make_result):
    response = render(make_result(quarters_map), RenderOptions("png"))
    assert response.media_type == "image/png"
    decoded = Image.open(io.BytesIO(response.body))
    assert decoded.mode == "P"
    np.testing.assert_array_equal(np.asarray(decoded), quarters_map)
    assert decoded.text["labels"].split(",")[12] == "dog"


def test_png_at_original_size(quarters_map, make_result):
    response = render(make_result(quarters_map, photo_size=(40, 30)), RenderOptions("png", mask_size="original"))
    assert Image.open(io.BytesIO(response.body)).size == (40, 30)
    # The class ids, resized nearest-neighbour: the 16×16 quarters become 40×30 quarters with no new class.
    expected = np.zeros((30, 40), dtype=np.uint8)
    expected[:15, 20:] = 12
    expected[15:, 20:] = 15
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(response.body))), expected)


def test_overlay_has_the_photos_size_in_both_encodings(quarters_map, make_result):
    result = make_result(quarters_map, photo_size=(40, 30))
    for name, image_format in (("overlay", "PNG"), ("overlay_jpeg", "JPEG")):
        decoded = Image.open(io.BytesIO(render(result, RenderOptions(name, legend=False)).body))
        assert (decoded.format, decoded.size) == (image_format, (40, 30))


def test_npz_holds_exactly_the_requested_arrays_and_labels(quarters_map, make_result):
    result = make_result(quarters_map, requested=("logits", "segmentation_map"))
    with np.load(io.BytesIO(render(result, RenderOptions("npz")).body)) as archive:
        assert set(archive.files) == {"logits", "segmentation_map", "labels"}
        np.testing.assert_array_equal(archive["logits"], result.arrays["logits"])
        np.testing.assert_array_equal(archive["segmentation_map"], quarters_map)
        assert archive["labels"][15] == "person"


def test_summary_render_is_json(quarters_map, make_result):
    body = orjson.loads(render(make_result(quarters_map), RenderOptions("summary")).body)
    assert body["Status"] == "OK"
    assert [entry["id"] for entry in body["classes"]] == [0, 12, 15]


def test_json_render_at_original_size_resizes_the_map(quarters_map, make_result):
    result = make_result(quarters_map, photo_size=(40, 30))
    body = orjson.loads(render(result, RenderOptions("json", mask_size="original")).body)
    segmentation_map = np.array(body["requested_results"]["segmentation_map"])
    assert segmentation_map.shape == (30, 40)
    assert set(np.unique(segmentation_map)) == {0, 12, 15}


def test_the_typed_values_are_exactly_the_served_ones():
    """An unknown mask size or format is refused at the edge (check_mask_size, negotiate: 400); past it the
    values are typed, and the types list exactly what the renderers serve."""
    assert set(typing.get_args(ResponseFormat)) == set(FORMATS)
    assert typing.get_args(MaskSize) == MASK_SIZES
    with pytest.raises(BadRequest, match="mask_size"):
        check_mask_size("huge")


def test_each_array_is_resized_once_before_rendering(quarters_map, make_result):
    result = make_result(quarters_map, photo_size=(40, 30))
    summary = at_answer_size(result, RenderOptions("summary", mask_size="original"))
    assert set(summary.arrays) == {"segmentation_map", "confidence"}  # one confidence plane, not 21 planes
    assert summary.arrays["segmentation_map"].shape == summary.arrays["confidence"].shape == (30, 40)
    overlay = at_answer_size(result, RenderOptions("overlay", mask_size="model"))
    assert overlay.arrays["segmentation_map"].shape == (30, 40)  # overlays are always at the photo's size
    assert at_answer_size(result, RenderOptions("png")).arrays["segmentation_map"] is result.arrays["segmentation_map"]
