"""The single-output models: each computes only its output, and answers exactly what the full model does."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from export import single_outputs
from export.layout import family_is_complete, model_file, single_output_file
from export.pipeline import ExportResult
from export.triton_config import ONNX, TORCH
from gateway.contract import OUTPUT_NAMES


@pytest.mark.parametrize("output", OUTPUT_NAMES)
def test_onnx_single_output_graph_has_no_node_of_the_other_outputs(exported: ExportResult, output: str) -> None:
    repository = exported.model_dirs["onnx"].parent
    graph = onnx.load(str(single_output_file(repository, exported.family, ONNX, output))).graph
    full = onnx.load(str(model_file(repository, exported.family, ONNX))).graph
    assert [o.name for o in graph.output] == [output]
    kinds = {node.op_type for node in graph.node}
    assert ("ArgMax" in kinds) == (output == "segmentation_map")
    assert ("Exp" in kinds) == (output == "probabilities")
    assert len(graph.node) < len(full.node)


def test_every_single_output_model_answers_what_the_full_model_answers(exported: ExportResult) -> None:
    repository = exported.model_dirs["onnx"].parent
    full = {runtime.name: model_file(repository, exported.family, runtime) for runtime in (TORCH, ONNX)}
    single = {
        runtime.name: {
            output: single_output_file(repository, exported.family, runtime, output) for output in OUTPUT_NAMES
        }
        for runtime in (TORCH, ONNX)
    }
    batch = np.random.default_rng(3).integers(0, 256, (2, 3, 512, 512), dtype=np.uint8)
    differences = single_outputs.check_agreement(full, single, batch)
    assert set(differences) == {f"{r}/{o}" for r in ("torch", "onnx") for o in OUTPUT_NAMES}
    assert differences["onnx/segmentation_map"] == 0.0 and differences["torch/segmentation_map"] == 0.0


def test_an_export_without_single_output_models_is_incomplete(exported: ExportResult) -> None:
    repository = exported.model_dirs["onnx"].parent
    assert family_is_complete(repository, exported.family)
    path = single_output_file(repository, exported.family, TORCH, "logits")
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
    module = load_torchscript(single_output_file(repository, exported.family, TORCH, "segmentation_map"))
    with torch.inference_mode():
        value = module(torch.zeros((2, 3, 512, 512), dtype=torch.uint8))
    assert isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.shape == (2, 512, 512)
    assert value.is_contiguous()  # Triton's backends and the twin read the raw NCHW buffer
