"""The form rules shared by every inference endpoint (no Triton needed)."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.inference import check_runtime, parse_result_types

ALL = ("logits", "pixels_distribution", "segmentation_map")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, ALL),
        ([], ALL),
        ([""], ALL),
        ([" , "], ALL),
        (["segmentation_map"], ("segmentation_map",)),
        (["segmentation_map", "logits"], ("segmentation_map", "logits")),  # repeated fields, caller's order
        (["segmentation_map,logits"], ("segmentation_map", "logits")),  # one comma-separated value
        (["pixels_distribution, segmentation_map", "logits"], ("pixels_distribution", "segmentation_map", "logits")),
        (["logits", "logits,logits"], ("logits",)),
    ],
)
def test_result_types(values, expected) -> None:
    assert parse_result_types(values) == expected


@pytest.mark.parametrize("bad", ["probabilities", "Logits", "segmentation-map"])
def test_unknown_result_type_is_named_with_the_allowed_ones(bad: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_result_types(["logits", bad])
    assert bad in raised.value.detail
    assert all(name in raised.value.detail for name in ALL)


def test_runtimes() -> None:
    assert check_runtime("torch") == "torch" and check_runtime("onnx") == "onnx"
    with pytest.raises(BadRequest, match=r"'tensorrt'.*torch, onnx"):
        check_runtime("tensorrt")
