import numpy as np
import pytest

from gateway.domain import RenderOptions
from gateway.results.registry import at_answer_size
from gateway.results.summary import build_summary, class_statistics


def test_statistics_count_each_class_with_names_and_fractions(quarters_map, voc_labels):
    entries = class_statistics(quarters_map, voc_labels)
    assert [entry["name"] for entry in entries] == ["background", "dog", "person"]
    assert [entry["pixel_count"] for entry in entries] == [128, 64, 64]
    assert sum(entry["pixel_fraction"] for entry in entries) == pytest.approx(1.0)
    assert entries[1]["color"] == "#400080"
    assert entries[0]["mean_confidence"] is None


def test_mean_confidence_is_the_mean_winning_probability_per_class(quarters_map, voc_labels):
    confidence = np.where(quarters_map == 12, 0.9, 0.5).astype(np.float32)
    by_name = {entry["name"]: entry for entry in class_statistics(quarters_map, voc_labels, confidence)}
    assert by_name["dog"]["mean_confidence"] == pytest.approx(0.9)
    assert by_name["person"]["mean_confidence"] == pytest.approx(0.5)


def test_unknown_class_ids_get_a_stand_in_name(voc_labels):
    entries = class_statistics(np.full((2, 2), 255, dtype=np.uint8), voc_labels)
    assert entries[0]["name"] == "class_255"


@pytest.mark.parametrize("mask_size, mask_dims", [("model", (16, 16)), ("original", (40, 30))])
def test_summary_describes_sizes_model_and_classes(quarters_map, mask_size, mask_dims, make_result):
    weights = {"kind": "random", "weights_are_random": True, "file": None, "sha256": None}
    result = make_result(quarters_map, photo_size=(40, 30), weights=weights)
    summary = build_summary(at_answer_size(result, RenderOptions("summary", mask_size=mask_size)), mask_size)
    assert summary["image_size"] == {"width": 40, "height": 30}
    assert (summary["mask_size"]["width"], summary["mask_size"]["height"]) == mask_dims
    assert summary["model"]["backend"] == "onnx"
    assert summary["weights"]["weights_are_random"] is True
    assert {entry["name"] for entry in summary["classes"]} == {"background", "dog", "person"}
    assert sum(entry["pixel_fraction"] for entry in summary["classes"]) == pytest.approx(1.0)
    # make_result puts 10 logits on the map's class: the model is sure of every pixel.
    assert all(entry["mean_confidence"] > 0.9 for entry in summary["classes"])


def test_summary_weights_are_the_models_record_only(quarters_map, make_result):
    weights = {"kind": "file", "weights_are_random": False, "file": "ft.pth", "sha256": "ab" * 32}
    result = at_answer_size(make_result(quarters_map, weights=weights), RenderOptions("summary"))
    assert build_summary(result, "model")["weights"] == weights
