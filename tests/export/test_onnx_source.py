"""The ONNX source on the real PASCAL VOC model: same contract, real labels, dog pixels on a dog photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from export.errors import ExportError
from export.layout import model_file
from export.paths import PROJECT_ROOT
from export.photos import load_photos
from export.pipeline import export_family
from export.sources.onnx_source import build_onnx_source
from export.sources.request import OnnxRequest
from export.torchscript import load_torchscript
from export.triton_config import ONNX, TORCH, check_config_file
from gateway.contract import INPUT_NAME, OUTPUT_NAMES
from tests.export.contract_checks import assert_contract_outputs
from tests.export.shared_assets import IMAGES_DIR, VOC_MODEL_DIR, require_shared

pytestmark = pytest.mark.timeout(600)
VOC_SPEC = PROJECT_ROOT / "export" / "specs" / "voc-deeplabv3-mnv2.json"
DOG = 12


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory):
    require_shared(VOC_MODEL_DIR / "model.onnx")
    require_shared(IMAGES_DIR)
    request = OnnxRequest(input_spec=str(VOC_SPEC))
    source = request.build()
    result = export_family(request, tmp_path_factory.mktemp("voc"), family="voc_mnv2", source=source)
    dog2 = next(p for p in load_photos(IMAGES_DIR) if p.name == "dog2.jpg").as_input((513, 513))
    return source, result, dog2


def test_configs_carry_the_models_own_size_and_labels(voc) -> None:
    source, result, _ = voc
    labels = tuple((VOC_MODEL_DIR / "labels.txt").read_text().split())
    assert source.labels == labels and len(labels) == 21
    for runtime, folder in result.model_dirs.items():
        assert folder.name == f"voc_mnv2_{'torchscript' if runtime == 'torch' else 'onnx'}"
        config = check_config_file(folder / "config.pbtxt")
        assert list(config.input[0].dims) == [3, 513, 513]
        assert list(config.output[0].dims) == [21, 513, 513]
        assert {k: v.string_value for k, v in config.parameters.items()}["segmentation.labels"].split(",") == list(
            labels
        )
        assert (folder / "labels.txt").read_text().split() == list(labels)


def test_dog2_is_mostly_dog_through_both_exported_files_as_in_the_original(voc) -> None:
    source, result, dog2 = voc
    repository = result.model_dirs["torch"].parent
    with torch.inference_mode():
        torch_map = load_torchscript(model_file(repository, "voc_mnv2", TORCH))(torch.from_numpy(dog2))[2].numpy()
    session = onnxruntime.InferenceSession(
        str(model_file(repository, "voc_mnv2", ONNX)), providers=["CPUExecutionProvider"]
    )
    onnx_logits, onnx_map = session.run(["logits", "segmentation_map"], {INPUT_NAME: dog2})
    np.testing.assert_array_equal(onnx_map, onnx_logits.argmax(axis=1))
    original_map = source.reference(dog2).argmax(axis=1)
    for segmentation_map in (torch_map, onnx_map):
        assert (segmentation_map == DOG).mean() >= 0.20
        assert (segmentation_map == original_map).mean() >= 0.999


def test_exported_onnx_takes_a_batch_although_the_original_fixes_batch_1(voc) -> None:
    _, result, dog2 = voc
    repository = result.model_dirs["onnx"].parent
    session = onnxruntime.InferenceSession(
        str(model_file(repository, "voc_mnv2", ONNX)), providers=["CPUExecutionProvider"]
    )
    batch = np.concatenate([dog2, dog2[:, :, ::-1].copy()])  # the photo and a flipped copy
    logits, probabilities, segmentation_map, confidence = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    assert_contract_outputs(logits, probabilities, segmentation_map, batch=2, classes=21, size=(513, 513))
    np.testing.assert_allclose(confidence, probabilities.max(axis=1), atol=1e-6)
    single = session.run(["logits"], {INPUT_NAME: dog2})[0]
    np.testing.assert_allclose(logits[:1], single, atol=1e-3)


def _spec(tmp_path: Path, **changes) -> Path:
    spec = json.loads(VOC_SPEC.read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = spec
        for parent in parents:
            node = node[parent]
        node[key] = value
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"input__colour": "RGB"}, "input.colour"),
        (
            {"input__normalisation": {"kind": "mean_std", "mean": [0.5], "std": [0.5]}},
            "uint8 input cannot be normalised",
        ),
        ({"input__layout": "HWC"}, "input.layout"),
        ({"output__name": "probs"}, "no graph output named 'probs'"),
        ({"model": "missing.onnx"}, "does not exist"),
    ],
    ids=["unknown-key", "uint8-normalised", "layout", "output", "model-path"],
)
def test_bad_input_spec_is_a_clear_error(tmp_path: Path, changes: dict, message: str) -> None:
    require_shared(VOC_MODEL_DIR / "model.onnx")
    with pytest.raises(ExportError, match=message):
        build_onnx_source(_spec(tmp_path, **changes))


def test_int8_model_agrees_with_fp32_on_held_out_photos_and_is_served_as_its_own_runtime(voc) -> None:

    from export.int8 import MIN_AGREEMENT
    from export.int8_export import export_int8
    from export.layout import model_dir, partial_file
    from export.triton_config import ONNX_INT8

    _, result, _ = voc
    repository = result.model_dirs["onnx"].parent
    calibration = [IMAGES_DIR / "dog2.jpg", IMAGES_DIR / "people.jpg"]
    # dog2.jpg among the held-out candidates is dropped: a calibration photo is never a held-out one.
    held_out = [IMAGES_DIR / "dog1.jpg", IMAGES_DIR / "Roads_Cars.jpg", IMAGES_DIR / "dog2.jpg"]
    int8 = export_int8(repository, "voc_mnv2", calibration, held_out)
    assert set(int8.holdout_agreement) == {"dog1.jpg", "Roads_Cars.jpg"}
    assert int8.min_agreement >= MIN_AGREEMENT
    assert int8.excluded_nodes  # the first convolutions stay in float on this model

    folder = model_dir(repository, "voc_mnv2", ONNX_INT8)
    config = check_config_file(folder / "config.pbtxt")
    assert config.name == "voc_mnv2_onnx_int8" and config.platform == "onnxruntime_onnx"
    assert config.parameters["segmentation.runtime"].string_value == "onnx_int8"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["int8"]["holdout_agreement"] == int8.holdout_agreement
    graph = onnx.load(str(model_file(repository, "voc_mnv2", ONNX_INT8))).graph
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) > 10

    # Its map model answers what the full int8 model answers, on a held-out photo.
    dog1 = next(p for p in load_photos(IMAGES_DIR) if p.name == "dog1.jpg").as_input((513, 513))
    full = onnxruntime.InferenceSession(str(model_file(repository, "voc_mnv2", ONNX_INT8)))
    single = onnxruntime.InferenceSession(str(partial_file(repository, "voc_mnv2", ONNX_INT8, ("segmentation_map",))))
    np.testing.assert_array_equal(
        single.run(None, {INPUT_NAME: dog1})[0], full.run(["segmentation_map"], {INPUT_NAME: dog1})[0]
    )
    # ... also once the embedded adapter has rewritten it for CPU (serving/python_backend/map_layout.py).
    from serving.python_backend.map_layout import argmax_channels_last

    rewritten = onnx.load(str(partial_file(repository, "voc_mnv2", ONNX_INT8, ("segmentation_map",))))
    assert argmax_channels_last(rewritten) == 1
    np.testing.assert_array_equal(
        onnxruntime.InferenceSession(rewritten.SerializeToString()).run(None, {INPUT_NAME: dog1})[0],
        full.run(["segmentation_map"], {INPUT_NAME: dog1})[0],
    )
    check_config_file(
        partial_file(repository, "voc_mnv2", ONNX_INT8, ("segmentation_map",)).parents[1] / "config.pbtxt"
    )


def test_int8_without_held_out_photos_is_refused_and_writes_nothing(voc) -> None:
    from export.int8_export import export_int8

    _, result, _ = voc
    repository = result.model_dirs["onnx"].parent
    before = sorted(p.name for p in repository.iterdir())
    with pytest.raises(ExportError, match="no held-out photos"):
        export_int8(repository, "voc_mnv2", [IMAGES_DIR / "dog2.jpg"], [IMAGES_DIR / "dog2.jpg"])
    assert sorted(p.name for p in repository.iterdir()) == before
