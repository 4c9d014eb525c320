"""The partial models: each computes only its outputs, and answers exactly what the full model does."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from export import partial_models
from export.layout import family_is_complete, model_file, partial_file
from export.pipeline import ExportResult
from export.triton_config import ONNX, TORCH
from gateway.contract import PARTIAL_OUTPUT_SETS


@pytest.mark.parametrize("outputs", PARTIAL_OUTPUT_SETS, ids=lambda s: "+".join(s))
def test_onnx_partial_graph_has_no_node_of_the_other_outputs(exported: ExportResult, outputs: tuple[str, ...]) -> None:
    repository = exported.model_dirs["onnx"].parent
    graph = onnx.load(str(partial_file(repository, exported.family, ONNX, outputs))).graph
    full = onnx.load(str(model_file(repository, exported.family, ONNX))).graph
    assert tuple(o.name for o in graph.output) == outputs
    kinds = {node.op_type for node in graph.node}
    assert ("ArgMax" in kinds) == ("segmentation_map" in outputs)
    assert ("Exp" in kinds) == ("probabilities" in outputs or "confidence" in outputs)
    assert ("Div" in kinds) == ("probabilities" in outputs)  # the confidence needs no division of C planes
    assert len(graph.node) < len(full.node)


def test_every_partial_model_answers_what_the_full_model_answers(exported: ExportResult) -> None:
    repository = exported.model_dirs["onnx"].parent
    full = {runtime.name: model_file(repository, exported.family, runtime) for runtime in (TORCH, ONNX)}
    partials = {
        runtime.name: {
            outputs: partial_file(repository, exported.family, runtime, outputs) for outputs in PARTIAL_OUTPUT_SETS
        }
        for runtime in (TORCH, ONNX)
    }
    batch = np.random.default_rng(3).integers(0, 256, (2, 3, 512, 512), dtype=np.uint8)
    differences = partial_models.check_agreement(full, partials, batch)
    assert set(differences) == {
        f"{r}/{'+'.join(outputs)}/{o}" for r in ("torch", "onnx") for outputs in PARTIAL_OUTPUT_SETS for o in outputs
    }
    for runtime in ("torch", "onnx"):
        assert differences[f"{runtime}/segmentation_map/segmentation_map"] == 0.0
        assert differences[f"{runtime}/segmentation_map+confidence/segmentation_map"] == 0.0


def test_the_confidence_is_the_winning_probability(exported: ExportResult) -> None:
    import onnxruntime

    path = model_file(exported.model_dirs["onnx"].parent, exported.family, ONNX)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(5).integers(0, 256, (1, 3, 512, 512), dtype=np.uint8)
    probabilities, segmentation_map, confidence = session.run(
        ["probabilities", "segmentation_map", "confidence"], {"image": batch}
    )
    assert confidence.shape == segmentation_map.shape and confidence.dtype == np.float32
    np.testing.assert_allclose(confidence, probabilities.max(axis=1), atol=1e-6)
    winning = np.take_along_axis(probabilities, segmentation_map[:, None].astype(np.int64), axis=1)[:, 0]
    np.testing.assert_allclose(confidence, winning, atol=1e-6)


def test_an_export_without_partial_models_is_incomplete(exported: ExportResult) -> None:
    repository = exported.model_dirs["onnx"].parent
    assert family_is_complete(repository, exported.family)
    path = partial_file(repository, exported.family, TORCH, ("segmentation_map", "confidence"))
    moved = path.with_name("moved.pt")
    path.rename(moved)
    try:
        assert not family_is_complete(repository, exported.family)
    finally:
        moved.rename(path)


def test_torchscript_map_model_returns_one_contiguous_uint8_map(exported: ExportResult) -> None:
    import torch

    from export.torchscript import load_torchscript

    repository = exported.model_dirs["torch"].parent
    module = load_torchscript(partial_file(repository, exported.family, TORCH, ("segmentation_map",)))
    with torch.inference_mode():
        value = module(torch.zeros((2, 3, 512, 512), dtype=torch.uint8))
    assert isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.shape == (2, 512, 512)
    assert value.is_contiguous()  # Triton's backends and the twin read the raw NCHW buffer


def test_every_model_has_the_warm_up_sample_its_config_names(exported: ExportResult) -> None:
    from export.triton_config import WARMUP_COUNT, check_config_file

    repository = exported.model_dirs["onnx"].parent
    folders = [
        p.parent
        for p in repository.glob(f"{exported.family}_*/config.pbtxt")
        if "_photo" not in p.parent.name and not p.parent.name.endswith("_preprocess")  # ensembles, preprocessing
    ]
    assert len(folders) == 2 * (1 + len(PARTIAL_OUTPUT_SETS))
    for folder in folders:
        (sample,) = check_config_file(folder / "config.pbtxt").model_warmup
        assert sample.count == WARMUP_COUNT and sample.batch_size == 1
        spec = sample.inputs["image"]
        data = (folder / "warmup" / spec.input_data_file).read_bytes()
        assert len(data) == 3 * 512 * 512 == int(np.prod(spec.dims))
