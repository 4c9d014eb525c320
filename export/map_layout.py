"""The segmentation map computed from channels-last upsampled logits (an ONNX graph rewrite).

The exported graph ends `low-res logits [N,C,h,w] -> Resize -> logits [N,C,H,W] -> ArgMax(axis=1)`.
onnxruntime's ArgMax over axis 1 of an NCHW tensor walks C strided planes per pixel; over the last axis of
an NHWC tensor it reads C neighbouring floats. So the map gets its own branch:

    low-res logits -> Transpose(0,2,3,1) -> Resize (sizes permuted the same way) -> ArgMax(axis=3)

onnxruntime upsamples NHWC tensors with its own channels-last kernel, which computes every value with the
same arithmetic as the NCHW one (bit for bit: checked on every export by the single-output and parity
checks, and in tests/export/test_map_layout.py), so the map is exactly argmax(logits). On 2 CPU cores,
Resize + ArgMax for 21x512x512 took 12-18 ms as NCHW and 5 ms as NHWC (docs/performance.md).

The full graph keeps its NCHW Resize for the logits and probabilities; the map-only graph cut out of it
(export/single_outputs.py) has only the channels-last branch. The int8 model is quantised from this graph and
keeps Transpose, Resize and ArgMax in float (export/int8.py).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Resize attributes whose channels-last kernel was checked bit for bit against the NCHW one.
_SAME_ARITHMETIC = {"mode": {b"linear"},
                    "coordinate_transformation_mode": {b"half_pixel", b"pytorch_half_pixel", b"align_corners",
                                                       b"asymmetric"}}
_IGNORED_FOR_LINEAR = {"cubic_coeff_a", "nearest_mode"}
_TO_CHANNELS_LAST = [0, 2, 3, 1]


def argmax_channels_last(model: onnx.ModelProto) -> int:
    """Rewrites, in place, each `ArgMax(axis=1, keepdims=0)` of a 4-D linear Resize (possibly through Cast
    nodes, as in graphs converted from TensorFlow) to read a channels-last Resize of the same input. Returns
    how many it rewrote (0 leaves the graph as is)."""
    graph = model.graph
    producers = {output: node for node in graph.node for output in node.output}
    ranks = _ranks(model)
    rewritten = 0
    for node in list(graph.node):
        if node.op_type != "ArgMax" or not node.input or not _argmax_over_channels(node):
            continue
        casts, resize = _casts_then_producer(node.input[0], producers)
        if resize is None or not _rewritable(resize, ranks):
            continue
        prefix = f"{node.name or node.output[0]}/channels_last"
        permutation = numpy_helper.from_array(np.array(_TO_CHANNELS_LAST, dtype=np.int64), f"{prefix}/permutation")
        graph.initializer.append(permutation)
        resize_inputs = [f"{prefix}/input", *resize.input[1:]]
        target = 3 if len(resize.input) > 3 and resize.input[3] else 2  # output sizes, else scales
        resize_inputs[target] = f"{prefix}/{'sizes' if target == 3 else 'scales'}"
        new_nodes = [
            helper.make_node("Transpose", [resize.input[0]], [f"{prefix}/input"], name=f"{prefix}/Transpose",
                             perm=_TO_CHANNELS_LAST),
            helper.make_node("Gather", [resize.input[target], permutation.name], [resize_inputs[target]],
                             name=f"{prefix}/Gather", axis=0),
            helper.make_node("Resize", resize_inputs, [f"{prefix}/upsampled"], name=f"{prefix}/Resize"),
        ]
        new_nodes[-1].attribute.extend(resize.attribute)
        for index, cast in enumerate(casts):  # element-wise, so they commute with the transposition
            new_nodes.append(helper.make_node("Cast", [new_nodes[-1].output[0]], [f"{prefix}/cast{index}"],
                                              name=f"{prefix}/Cast{index}"))
            new_nodes[-1].attribute.extend(cast.attribute)
        position = list(graph.node).index(node)
        for offset, new_node in enumerate(new_nodes):
            graph.node.insert(position + offset, new_node)
        node.input[0] = new_nodes[-1].output[0]
        _set_axis(node, 3)
        rewritten += 1
    return rewritten


def _casts_then_producer(name: str, producers: dict[str, onnx.NodeProto]
                         ) -> tuple[list[onnx.NodeProto], onnx.NodeProto | None]:
    """The Cast nodes (nearest the producer first) between `name` and the node producing it through them."""
    casts: list[onnx.NodeProto] = []
    node = producers.get(name)
    while node is not None and node.op_type == "Cast" and node.domain in ("", "ai.onnx"):
        casts.insert(0, node)
        node = producers.get(node.input[0])
    return casts, node


def _argmax_over_channels(node: onnx.NodeProto) -> bool:
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return attributes.get("axis", 0) == 1 and attributes.get("keepdims", 1) == 0


def _rewritable(resize: onnx.NodeProto, ranks: dict[str, int]) -> bool:
    if resize.op_type != "Resize" or resize.domain not in ("", "ai.onnx"):
        return False
    given_sizes = len(resize.input) > 3 and bool(resize.input[3])
    given_scales = len(resize.input) > 2 and bool(resize.input[2])
    if given_sizes == given_scales or ranks.get(resize.input[0]) != 4:
        return False  # a 4-D tensor, and exactly one of output sizes and scales (permuted like the tensor)
    for attribute in resize.attribute:
        value = helper.get_attribute_value(attribute)
        if attribute.name in _IGNORED_FOR_LINEAR:
            continue
        if attribute.name not in _SAME_ARITHMETIC or value not in _SAME_ARITHMETIC[attribute.name]:
            return False
    return any(a.name == "mode" for a in resize.attribute)  # the default mode is nearest


def _set_axis(node: onnx.NodeProto, axis: int) -> None:
    kept = [a for a in node.attribute if a.name != "axis"]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute("axis", axis)])


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    return {v.name: len(v.type.tensor_type.shape.dim) for v in values if v.type.tensor_type.HasField("shape")}

