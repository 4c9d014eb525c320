"""The exported ONNX file: graph contract, and what onnxruntime computes from it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

from export.errors import ExportError
from export.layout import model_file
from export.onnx_export import OPSET, check_onnx_contract
from export.pipeline import ExportResult
from export.triton_config import ONNX
from gateway.contract import INPUT_NAME, OUTPUT_NAMES
from tests.export.contract_checks import assert_contract_outputs

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def onnx_path(exported: ExportResult):
    return model_file(exported.model_dirs["onnx"].parent, exported.family, ONNX)


def test_graph_names_types_and_dynamic_batch(onnx_path) -> None:
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == list(OUTPUT_NAMES)
    types = {v.name: v.type.tensor_type for v in (*model.graph.input, *model.graph.output)}
    assert types["image"].elem_type == onnx.TensorProto.UINT8
    assert types["logits"].elem_type == types["probabilities"].elem_type == onnx.TensorProto.FLOAT
    assert types["segmentation_map"].elem_type == onnx.TensorProto.UINT8
    assert [d.dim_value for d in types["image"].shape.dim[1:]] == [3, 512, 512]
    for tensor in types.values():
        assert tensor.shape.dim[0].dim_param, "batch dim must be symbolic"


def test_onnxruntime_outputs_follow_the_contract_for_a_batch_of_two(onnx_path) -> None:
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).integers(0, 256, (2, 3, 512, 512), dtype=np.uint8)
    logits, probabilities, segmentation_map, confidence = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    assert_contract_outputs(logits, probabilities, segmentation_map, batch=2, classes=21, size=(512, 512))
    np.testing.assert_allclose(confidence, probabilities.max(axis=1), atol=1e-6)


def test_contract_checker_refuses_a_graph_with_other_output_names(onnx_path, tmp_path) -> None:
    model = onnx.load(str(onnx_path))
    model.graph.output[2].name = "map"  # dangling: also breaks onnx.checker, either refusal is fine
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(ExportError, match=r"broken\.onnx"):
        check_onnx_contract(broken)
