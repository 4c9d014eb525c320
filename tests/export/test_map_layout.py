"""The map from channels-last upsampling: rewritten only where it is exact, and then exactly argmax(logits)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.layout import model_file, single_output_file
from export.map_layout import argmax_channels_last
from export.pipeline import ExportResult
from export.triton_config import ONNX

CLASSES = 21


def _graph(resize_attributes: dict, *, sizes: bool = True, keepdims: int = 0, cast: bool = False
           ) -> onnx.ModelProto:
    """low-res logits [N,21,h,w] -> Resize to [N,21,H,W] (H, W from a second input, as the export's graph
    computes them; or scales x4, as graphs converted from TensorFlow do, which also put a Cast to float
    behind it) -> outputs `logits` and `map` = ArgMax over the classes."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "two"], ["n_c"]),
        helper.make_node("Concat", ["n_c", "hw"], ["sizes"], axis=0),
    ]
    resize_inputs = ["x", "", "", "sizes"] if sizes else ["x", "", "scales"]
    nodes.append(helper.make_node("Resize", resize_inputs, ["upsampled" if cast else "logits"], **resize_attributes))
    if cast:
        nodes.append(helper.make_node("Cast", ["upsampled"], ["logits"], to=TensorProto.FLOAT))
    nodes += [helper.make_node("ArgMax", ["logits"], ["argmax"], axis=1, keepdims=keepdims),
              helper.make_node("Cast", ["argmax"], ["map"], to=TensorProto.UINT8)]
    initializers = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("zero", [0]), ("two", [2]))]
    initializers.append(numpy_helper.from_array(np.array([1, 1, 4, 4], np.float32), "scales"))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", CLASSES, "h", "w"]),
         helper.make_tensor_value_info("hw", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", CLASSES, "H", "W"]),
         helper.make_tensor_value_info("map", TensorProto.UINT8, ["n", 1, "H", "W"] if keepdims else ["n", "H", "W"])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, segmentation = session.run(["logits", "map"], {"x": x, "hw": np.array(hw, np.int64)})
    return logits, segmentation


LINEAR = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}


@pytest.mark.parametrize("shape,hw,options", [
    ((2, CLASSES, 32, 32), (512, 512), {}),
    ((1, CLASSES, 33, 17), (260, 135), {}),
    ((3, CLASSES, 64, 48), (512, 384), {}),
    ((2, CLASSES, 33, 17), (132, 68), {"sizes": False, "cast": True, "mode": "align_corners"}),
    ((1, CLASSES, 16, 16), (64, 64), {"sizes": False, "mode": "asymmetric"}),
    ((1, CLASSES, 16, 16), (120, 130), {"mode": "pytorch_half_pixel"}),
])
def test_the_rewritten_map_is_exactly_the_argmax_of_the_logits(shape, hw, options) -> None:
    attributes = {**LINEAR, "coordinate_transformation_mode": options.get("mode", "half_pixel")}
    model = _graph(attributes, sizes=options.get("sizes", True), cast=options.get("cast", False))
    before = _run(model, x := (np.random.default_rng(0).standard_normal(shape) * 8).astype(np.float32), hw)
    assert argmax_channels_last(model) == 1
    onnx.checker.check_model(model, full_check=True)
    logits, segmentation = _run(model, x, hw)
    assert np.array_equal(logits, before[0])  # the logits still come from the NCHW Resize
    assert np.array_equal(segmentation, before[1])
    assert np.array_equal(segmentation, logits.argmax(axis=1).astype(np.uint8))
    transposes = [n for n in model.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 1 and transposes[0].input == ["x"]
    assert [n.op_type for n in model.graph.node].count("Cast") == (3 if options.get("cast") else 1)
    (argmax,) = [n for n in model.graph.node if n.op_type == "ArgMax"]
    assert helper.get_attribute_value(next(a for a in argmax.attribute if a.name == "axis")) == 3


@pytest.mark.parametrize("variant", [
    {"resize": {"mode": "nearest"}},
    {"resize": {}},  # Resize's default mode is nearest
    {"resize": {"mode": "cubic"}},
    {"resize": {**LINEAR, "coordinate_transformation_mode": "tf_crop_and_resize"}},
    {"resize": {**LINEAR, "exclude_outside": 1}},
    {"resize": LINEAR, "keepdims": 1},
])
def test_other_graphs_are_left_as_they_are(variant) -> None:
    model = _graph(variant["resize"], sizes=variant.get("sizes", True), keepdims=variant.get("keepdims", 0))
    before = model.SerializeToString()
    assert argmax_channels_last(model) == 0
    assert model.SerializeToString() == before


def test_the_exported_map_model_upsamples_channels_last_only(exported: ExportResult) -> None:
    repository = exported.model_dirs["onnx"].parent
    full = onnx.load(str(model_file(repository, exported.family, ONNX))).graph
    only_map = onnx.load(str(single_output_file(repository, exported.family, ONNX, "segmentation_map"))).graph
    def channels_last(graph: onnx.GraphProto) -> list[str]:
        return [n.name for n in graph.node if n.op_type == "Resize" and n.name.endswith("/channels_last/Resize")]

    assert len(channels_last(full)) == 1
    assert any(n.op_type == "Resize" and n.output == ["logits"] for n in full.node)  # NCHW, for logits and softmax
    assert channels_last(only_map) == channels_last(full)
    assert not any("logits" in n.output for n in only_map.node)  # the map model upsamples channels-last only
