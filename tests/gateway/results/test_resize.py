import dataclasses

import numpy as np
import pytest

from gateway.errors import BadRequest
from gateway.results.resize import (
    at_mask_size,
    check_mask_size,
    original_size,
    resize_map,
    resize_scores,
)


def test_map_resize_is_nearest_and_keeps_class_ids(quarters_map):
    resized = resize_map(quarters_map, (40, 30))
    assert resized.shape == (30, 40)
    assert resized.dtype == np.uint8
    assert set(np.unique(resized)) == {0, 12, 15}
    assert resized[0, 39] == 12 and resized[29, 39] == 15 and resized[15, 0] == 0


def test_scores_resize_bilinear_keeps_distributions_summing_to_one(quarters_map, make_result):
    probabilities = make_result(quarters_map).arrays["pixels_distribution"]
    resized = resize_scores(probabilities, (23, 37))
    assert resized.shape == (21, 37, 23)
    assert resized.dtype == np.float32
    np.testing.assert_allclose(resized.sum(axis=0), 1.0, atol=1e-4)


def test_original_size_is_the_results_not_the_decoded_pictures(quarters_map, make_result):
    """A drafting decoder gives a picture smaller than the photo: the result's recorded size is the one used."""
    result = make_result(quarters_map, photo_size=(40, 30))
    assert original_size(result) == (40, 30)
    result = dataclasses.replace(result, original_size=(4000, 3000))
    assert original_size(result) == (4000, 3000)
    assert original_size(dataclasses.replace(result, original=None, original_size=None)) == (16, 16)  # no photo


def test_at_mask_size_model_is_untouched_and_original_resizes_requested_only(quarters_map, make_result):
    result = make_result(quarters_map, photo_size=(40, 30), requested=("segmentation_map", "logits"))
    assert at_mask_size(result, "model") is result
    resized = at_mask_size(result, "original")
    assert set(resized.arrays) == {"segmentation_map", "logits"}
    assert resized.arrays["segmentation_map"].shape == (30, 40)
    assert resized.arrays["logits"].shape == (21, 30, 40)
    assert result.arrays["segmentation_map"].shape == (16, 16)  # the original result is not modified


def test_unknown_mask_size_names_the_allowed_ones():
    with pytest.raises(BadRequest, match="model, original"):
        check_mask_size("huge")
    assert check_mask_size(" Original ") == "original"
    assert check_mask_size(None) == "model"


def test_resize_map_of_a_photo_sized_map_is_identity(quarters_map):
    assert resize_map(quarters_map, (16, 16)) is quarters_map
