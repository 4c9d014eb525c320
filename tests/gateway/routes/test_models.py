"""GET /models: discovered from Triton, grouped by family, with labels, input size and what the weights are."""

from __future__ import annotations

import pytest
import requests

from serving.watcher import model_folders

pytestmark = pytest.mark.timeout(120)

VOC_LABELS = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]


@pytest.fixture(scope="module")
def catalogue(gateway_url: str) -> dict:
    response = requests.get(f"{gateway_url}/models", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_default_family_has_both_backends(catalogue: dict) -> None:
    assert catalogue["default_model"] == "deeplabv3"
    family = catalogue["models"]["deeplabv3"]
    assert family["labels"] == VOC_LABELS
    assert family["input_size"] == [512, 512]
    assert {runtime: backend["model"] for runtime, backend in family["backends"].items()} == {
        "torch": "deeplabv3_torchscript",
        "onnx": "deeplabv3_onnx",
    }


def test_weights_say_the_test_weights_are_random(catalogue: dict) -> None:
    for backend in catalogue["models"]["deeplabv3"]["backends"].values():
        assert backend["weights"] == {"kind": "random", "weights_are_random": True, "file": None, "sha256": None}


def test_every_model_of_the_repository_is_listed_with_its_labels(catalogue: dict, stack) -> None:
    listed = {
        backend["model"]: family for family in catalogue["models"].values() for backend in family["backends"].values()
    }
    # `<model>__<output>[__<output>]` computes some outputs of <model> (docs/performance.md): not a model to list.
    # The photo models and their preprocessing take photos, not tensors: no family of their own either.
    in_repository = {
        path.name: path
        for path in model_folders(stack.repository)
        if "__" not in path.name and not path.name.endswith(("_photo", "_preprocess"))
    }
    assert set(listed) == set(in_repository)
    partials = {path.name for path in stack.repository.iterdir() if "__" in path.name}
    partials = {name for name in partials if "_photo" not in name}  # the photo models' own map ensemble
    assert partials and {name.split("__", 1)[0] for name in partials} <= set(listed)
    for name, path in in_repository.items():
        assert listed[name]["labels"] == (path / "labels.txt").read_text().split()
