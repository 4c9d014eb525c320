"""The map from channels-last upsampling (serving/python_backend/map_layout.py): rewritten only where it is
exact, and then exactly argmax(logits): on small graphs, on the exported models, and through the served stack;
the confidence beside it reduced channels-last too (one Softmax), equal but for float rounding."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from gateway.contract import INPUT_NAME
from serving.python_backend.map_layout import argmax_channels_last
from tests.support.exported_repository import DEFAULT_FAMILY, VOC_FAMILY
from tests.support.paths import shared_image

CLASSES = 21


def _graph(resize_attributes: dict, *, sizes: bool = True, keepdims: int = 0, cast: bool = False) -> onnx.ModelProto:
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
    nodes += [
        helper.make_node("ArgMax", ["logits"], ["argmax"], axis=1, keepdims=keepdims),
        helper.make_node("Cast", ["argmax"], ["map"], to=TensorProto.UINT8),
    ]
    initializers = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("zero", [0]), ("two", [2]))]
    initializers.append(numpy_helper.from_array(np.array([1, 1, 4, 4], np.float32), "scales"))
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", CLASSES, "h", "w"]),
            helper.make_tensor_value_info("hw", TensorProto.INT64, [2]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", CLASSES, "H", "W"]),
            helper.make_tensor_value_info(
                "map", TensorProto.UINT8, ["n", 1, "H", "W"] if keepdims else ["n", "H", "W"]
            ),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, segmentation = session.run(["logits", "map"], {"x": x, "hw": np.array(hw, np.int64)})
    return logits, segmentation


LINEAR = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}


@pytest.mark.parametrize(
    "shape,hw,options",
    [
        ((2, CLASSES, 32, 32), (512, 512), {}),
        ((1, CLASSES, 33, 17), (260, 135), {}),
        ((3, CLASSES, 64, 48), (512, 384), {}),
        ((2, CLASSES, 33, 17), (132, 68), {"sizes": False, "cast": True, "mode": "align_corners"}),
        ((1, CLASSES, 16, 16), (64, 64), {"sizes": False, "mode": "asymmetric"}),
        ((1, CLASSES, 16, 16), (120, 130), {"mode": "pytorch_half_pixel"}),
        ((1, CLASSES, 16, 16), (64, 64), {"defaults": {"exclude_outside": 0, "extrapolation_value": 0.0}}),
    ],
)
def test_the_rewritten_map_is_exactly_the_argmax_of_the_logits(shape, hw, options) -> None:
    attributes = {
        **LINEAR,
        "coordinate_transformation_mode": options.get("mode", "half_pixel"),
        **options.get("defaults", {}),
    }
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


@pytest.mark.parametrize(
    "variant",
    [
        {"resize": {"mode": "nearest"}},
        {"resize": {}},  # Resize's default mode is nearest
        {"resize": {"mode": "cubic"}},
        {"resize": {**LINEAR, "coordinate_transformation_mode": "tf_crop_and_resize"}},
        {"resize": {**LINEAR, "exclude_outside": 1}},
        {"resize": LINEAR, "keepdims": 1},
    ],
)
def test_other_graphs_are_left_as_they_are(variant) -> None:
    model = _graph(variant["resize"], sizes=variant.get("sizes", True), keepdims=variant.get("keepdims", 0))
    before = model.SerializeToString()
    assert argmax_channels_last(model) == 0
    assert model.SerializeToString() == before


def test_a_graph_that_returns_only_the_map_loses_its_nchw_resize() -> None:
    model = _graph(LINEAR)
    del model.graph.output[0]  # only `map`: the NCHW Resize's output is read by nothing after the rewrite
    x = np.random.default_rng(1).standard_normal((1, CLASSES, 16, 16)).astype(np.float32)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (before,) = session.run(None, {"x": x, "hw": np.array([64, 64], np.int64)})
    assert argmax_channels_last(model) == 1
    assert [n.op_type for n in model.graph.node].count("Resize") == 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": x, "hw": np.array([64, 64], np.int64)})[0], before)


def _confidence_graph(opset: int, probabilities: bool = False) -> onnx.ModelProto:
    """low-res logits -> Resize x4 -> the map and the confidence, 1 / sum(exp(logits - max)) over the classes,
    written as the export writes it (the reductions' axes as attributes or inputs, as `opset` has them); with
    `probabilities`, the full graph's softmax output beside them."""
    axes_as_input = {"ReduceMax": opset >= 18, "ReduceSum": opset >= 13, "Squeeze": opset >= 13}

    def over_classes(op: str, inputs: list[str], output: str, **attributes) -> onnx.NodeProto:
        if axes_as_input[op]:
            return helper.make_node(op, [*inputs, "one"], [output], **attributes)
        return helper.make_node(op, inputs, [output], axes=[1], **attributes)

    nodes = [
        helper.make_node("Resize", ["x", "" if opset >= 13 else "roi", "scales"], ["logits"], **LINEAR),
        over_classes("ReduceMax", ["logits"], "max", keepdims=1),
        helper.make_node("Sub", ["logits", "max"], ["shifted"]),
        helper.make_node("Exp", ["shifted"], ["exponentials"]),
        over_classes("ReduceSum", ["exponentials"], "sums", keepdims=1),
        over_classes("Squeeze", ["sums"], "squeezed"),
        helper.make_node("Reciprocal", ["squeezed"], ["confidence"]),
        helper.make_node("ArgMax", ["logits"], ["argmax"], axis=1, keepdims=0),
        helper.make_node("Cast", ["argmax"], ["map"], to=TensorProto.UINT8),
    ]
    outputs = [
        helper.make_tensor_value_info("map", TensorProto.UINT8, ["n", "H", "W"]),
        helper.make_tensor_value_info("confidence", TensorProto.FLOAT, ["n", "H", "W"]),
    ]
    if probabilities:
        nodes.append(helper.make_node("Div", ["exponentials", "sums"], ["probabilities"]))
        outputs.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", CLASSES, "H", "W"]))
    initializers = [
        numpy_helper.from_array(np.array([1, 1, 4, 4], np.float32), "scales"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.zeros(0, np.float32), "roi"),  # not optional before opset 13
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", CLASSES, "h", "w"])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _run_all(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in model.graph.output], session.run(None, {"x": x}), strict=True))


@pytest.mark.parametrize("opset", [11, 17, 18])
def test_the_confidence_is_reduced_channels_last_too_and_the_nchw_resize_goes(opset: int) -> None:
    model = _confidence_graph(opset)
    x = (np.random.default_rng(3).standard_normal((2, CLASSES, 16, 12)) * 8).astype(np.float32)
    before = _run_all(model, x)
    assert argmax_channels_last(model) == 1
    onnx.checker.check_model(model, full_check=True)
    after = _run_all(model, x)
    np.testing.assert_array_equal(after["map"], before["map"])
    # The same sums in another order: float rounding only.
    np.testing.assert_allclose(after["confidence"], before["confidence"], rtol=0, atol=1e-6)
    assert [n.op_type for n in model.graph.node].count("Resize") == 1  # the NCHW one had no reader left
    (transpose,) = [n for n in model.graph.node if n.op_type == "Transpose"]
    (resize,) = [n for n in model.graph.node if n.op_type == "Resize"]
    assert transpose.input == ["x"] and resize.input[0] == transpose.output[0]
    # 1 / sum(exp(l - max)) is the largest probability: one Softmax over the channels-last classes, no temporaries.
    (softmax,) = [n for n in model.graph.node if n.op_type == "Softmax"]
    (largest,) = [n for n in model.graph.node if n.output == ["confidence"]]
    assert softmax.input == resize.output and largest.op_type == "ReduceMax" and largest.input[0] == softmax.output[0]
    assert not {"Exp", "ReduceSum", "Reciprocal"} & {n.op_type for n in model.graph.node}


def test_a_confidence_read_elsewhere_keeps_its_chain() -> None:
    """The sum feeds another output too: the chain's nodes stay (channels-last), no Softmax replaces them."""
    model = _confidence_graph(17)
    model.graph.node.append(helper.make_node("Identity", ["squeezed"], ["sums_out"]))
    model.graph.output.append(helper.make_tensor_value_info("sums_out", TensorProto.FLOAT, ["n", "H", "W"]))
    x = (np.random.default_rng(5).standard_normal((1, CLASSES, 16, 16)) * 8).astype(np.float32)
    before = _run_all(model, x)
    assert argmax_channels_last(model) == 1
    after = _run_all(model, x)
    assert "Softmax" not in {n.op_type for n in model.graph.node}
    assert {"Exp", "ReduceSum", "Reciprocal"} <= {n.op_type for n in model.graph.node}
    np.testing.assert_array_equal(after["map"], before["map"])
    np.testing.assert_allclose(after["confidence"], before["confidence"], rtol=0, atol=1e-6)


def test_a_confidence_beside_the_probabilities_stays_channels_first() -> None:
    """The full graph's softmax feeds the probabilities (NCHW, a graph output) and the confidence alike: moving
    the confidence alone would compute the exponentials twice, so only the map is rewritten."""
    model = _confidence_graph(17, probabilities=True)
    x = (np.random.default_rng(4).standard_normal((1, CLASSES, 16, 16)) * 8).astype(np.float32)
    before = _run_all(model, x)
    reductions = [(n.op_type, list(n.input)) for n in model.graph.node if n.op_type.startswith("Reduce")]
    assert argmax_channels_last(model) == 1
    assert [(n.op_type, list(n.input)) for n in model.graph.node if n.op_type.startswith("Reduce")] == reductions
    after = _run_all(model, x)
    for name in ("map", "confidence", "probabilities"):
        np.testing.assert_array_equal(after[name], before[name])


def _photo(name: str, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(shared_image(name)) as image:
        resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized).transpose(2, 0, 1)[np.newaxis].copy()


# The exported graphs as Triton serves them: random-weights DeepLabV3 (Resize given sizes) and the real VOC
# model converted from TensorFlow (Resize given scales, align_corners, a Cast behind it).
EXPORTED = [
    (f"{DEFAULT_FAMILY}_onnx", 512),
    (f"{DEFAULT_FAMILY}_onnx__segmentation_map", 512),
    (f"{DEFAULT_FAMILY}_onnx__segmentation_map__confidence", 512),
    (f"{VOC_FAMILY}_onnx", 513),
    (f"{VOC_FAMILY}_onnx__segmentation_map", 513),
    (f"{VOC_FAMILY}_onnx__segmentation_map__confidence", 513),
]


@pytest.mark.parametrize("model_name,size", EXPORTED)
def test_exported_maps_are_unchanged_bit_for_bit(exported_repository, model_name: str, size: int) -> None:
    path = exported_repository / model_name / "1" / "model.onnx"
    if not path.is_file():
        pytest.skip(f"{model_name} is not in the exported repository (needs ../shared)")
    model = onnx.load(str(path))
    assert argmax_channels_last(model) == 1
    plain = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rewritten = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    if not model_name.endswith("_onnx"):  # a partial model: no reader is left for the NCHW Resize
        assert not any(n.op_type == "Resize" and n.output == ["logits"] for n in model.graph.node)
    batch = np.concatenate(
        [
            _photo("dog1.jpg", size),
            _photo("people.jpg", size),
            np.random.default_rng(2).integers(0, 256, (1, 3, size, size), dtype=np.uint8),
        ]
    )
    expected = plain.run(["segmentation_map"], {INPUT_NAME: batch})[0]
    np.testing.assert_array_equal(rewritten.run(["segmentation_map"], {INPUT_NAME: batch})[0], expected)
    if model_name.endswith("__confidence"):
        expected = plain.run(["confidence"], {INPUT_NAME: batch})[0]
        found = rewritten.run(["confidence"], {INPUT_NAME: batch})[0]
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)
        assert not np.array_equal(found, np.ones_like(found))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family,size", [(DEFAULT_FAMILY, 512), (VOC_FAMILY, 513)])
def test_the_served_map_is_the_exported_graphs_map(stack, family: str, size: int) -> None:
    """The embedded adapter rewrites every ONNX model it runs on CPU (its log says so), and Triton's maps are
    the exported file's maps, computed in-process without the rewrite."""
    import tritonclient.grpc as grpcclient

    model_name = f"{family}_onnx__segmentation_map"
    path = stack.repository / model_name / "1" / "model.onnx"
    if not path.is_file():
        pytest.skip(f"{model_name} is not served (needs ../shared)")
    log = stack.triton_log.read_text(errors="replace")
    # The map's own model is an ensemble over the full model's stub, which runs the partial file.
    on_cpu = "on CPUExecutionProvider (map from channels-last upsampling)"
    assert f'"{family}_onnx: serving model.onnx {on_cpu}' in log
    assert f'"{family}_onnx: partial file partial.segmentation_map.onnx {on_cpu}' in log
    image = _photo("dog2.jpg", size)
    client = grpcclient.InferenceServerClient(stack.triton_grpc_url)
    request = grpcclient.InferInput(INPUT_NAME, list(image.shape), "UINT8")
    request.set_data_from_numpy(image)
    served = client.infer(model_name, [request]).as_numpy("segmentation_map")
    plain = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(served, plain.run(["segmentation_map"], {INPUT_NAME: image})[0])
