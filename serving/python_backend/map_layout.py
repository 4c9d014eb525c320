"""The segmentation map from channels-last upsampled logits: an ONNX rewrite for onnxruntime on CPU.

An exported graph ends `low-res logits [N,C,h,w] -> Resize -> logits [N,C,H,W] -> ArgMax(axis=1)`.
onnxruntime's CPU ArgMax over axis 1 of an NCHW tensor walks C strided planes per pixel; over the last axis
of an NHWC tensor it reads C neighbouring floats. So the map gets its own branch:

    low-res logits -> Transpose(0,2,3,1) -> Resize (sizes or scales permuted alike) -> ArgMax(axis=3)

onnxruntime's CPU kernel for channels-last upsampling computes every value with the same arithmetic as its
NCHW one, so the map is bit for bit argmax(logits) (tests/serving/test_map_layout.py, on small graphs, the
exported models and through the served stack). On 2 CPU cores, Resize + ArgMax over 21x512x512 took 12-18 ms
as NCHW and 5 ms as NHWC; a map-only model runs about 1 ms over the network alone instead of about 10 ms
(docs/performance.md).

A confidence beside the map, 1 / sum(exp(logits - max)) over the classes, moves onto the same channels-last
tensor, and there becomes ReduceMax(Softmax(axis=3)): the same number, from one vectorised pass per pixel
instead of two [N,H,W,C] temporaries (equal but for the sum's float rounding, ~4e-7).

Why at load time, on CPU only, and not in the exported file: onnxruntime's CUDA kernel for linear Resize
takes the last two axes as height and width (its resize_impl.cu), so the rewritten graph is not safe on a GPU, and
Triton's native onnxruntime backend (compose) loads one file for CPU and GPU instances alike. The exported
files stay plain; the embedded adapter (model.py, beside this file) rewrites the graph it hands to a CPU
session. Nodes left without a consumer (the map model's own NCHW Resize) are dropped.

This file is imported by path from the Triton Python stub (see model.py): onnx and numpy only.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Resize attributes whose channels-last kernel was checked bit for bit against the NCHW one.
_SAME_ARITHMETIC = {
    "mode": {b"linear"},
    "coordinate_transformation_mode": {b"half_pixel", b"pytorch_half_pixel", b"align_corners", b"asymmetric"},
}
_IGNORED_FOR_LINEAR = {"cubic_coeff_a", "nearest_mode", "extrapolation_value"}  # for other modes only
# Attributes allowed at their default (onnxruntime's quantisation pre-processing writes them out).
_DEFAULTS = {"exclude_outside": 0, "antialias": 0, "keep_aspect_ratio_policy": b"stretch"}
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
            helper.make_node(
                "Transpose", [resize.input[0]], [f"{prefix}/input"], name=f"{prefix}/Transpose", perm=_TO_CHANNELS_LAST
            ),
            helper.make_node(
                "Gather",
                [resize.input[target], permutation.name],
                [resize_inputs[target]],
                name=f"{prefix}/Gather",
                axis=0,
            ),
            helper.make_node("Resize", resize_inputs, [f"{prefix}/upsampled"], name=f"{prefix}/Resize"),
        ]
        new_nodes[-1].attribute.extend(resize.attribute)
        for index, cast in enumerate(casts):  # element-wise, so they commute with the transposition
            new_nodes.append(
                helper.make_node(
                    "Cast", [new_nodes[-1].output[0]], [f"{prefix}/cast{index}"], name=f"{prefix}/Cast{index}"
                )
            )
            new_nodes[-1].attribute.extend(cast.attribute)
        # Right behind the NCHW Resize and its casts (they need only the Resize's inputs): a confidence
        # computed from the same logits earlier in the graph can then read the channels-last tensor too.
        nodes = list(graph.node)
        position = max(nodes.index(n) for n in [resize, *casts]) + 1
        for offset, new_node in enumerate(new_nodes):
            graph.node.insert(position + offset, new_node)
        channels_first = node.input[0]
        node.input[0] = new_nodes[-1].output[0]
        _set_axis(node, 3)
        if _confidence_channels_last(graph, channels_first, node.input[0], prefix):
            _confidence_from_softmax(graph, node.input[0], prefix)
        rewritten += 1
    if rewritten:
        _drop_unused_nodes(graph)
    return rewritten


# The softmax's confidence, 1 / sum(exp(logits - max(logits))) over the classes, as the export writes it.
_ELEMENTWISE = {"Sub", "Exp"}
_REDUCTIONS = {"ReduceMax", "ReduceSum"}
_CHANNEL_AXES = ((1,), (-3,))


def _confidence_channels_last(graph: onnx.GraphProto, channels_first: str, channels_last: str, prefix: str) -> bool:
    """Moves the nodes that reduce `channels_first` (NCHW logits) over the classes into a single plane onto
    `channels_last` (the same values as NHWC): `ReduceMax`/`ReduceSum` over axis 1 with keepdims, `Sub` and
    `Exp` of such tensors, ending in a `Squeeze` of axis 1, whose [N,H,W] output is the same in either layout.
    That is the confidence: its reductions then read neighbouring floats, and the NCHW Resize is left without
    a reader in a map + confidence graph. Nothing changes unless every reader of every tensor on the way is
    one of those nodes (the full graph's probabilities, a graph output over the classes, keep NCHW). The sums
    run over the same values in another order: the confidence moves by float rounding (~1e-7)."""
    nodes = list(graph.node)
    readers = _readers(graph)
    outputs = {o.name for o in graph.output}
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in nodes:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    twins = {channels_first: channels_last}
    pending = [channels_first]
    replacements: dict[int, onnx.NodeProto] = {}
    squeezed = 0
    while pending:
        name = pending.pop()
        for reader in readers.get(name, []):
            index = nodes.index(reader)
            if index in replacements:
                continue
            if name == channels_first and reader.op_type == "ArgMax":
                continue  # already reads the channels-last tensor (another map of the same logits)
            twin = _channels_last_twin(reader, twins, constants, prefix, index)
            if twin is None or any(output in outputs for output in reader.output if reader.op_type != "Squeeze"):
                return False
            replacements[index] = twin
            if reader.op_type == "Squeeze":
                squeezed += 1
                continue
            for output in reader.output:
                twins[output] = twin.output[0]
                pending.append(output)
    if not squeezed:
        return False
    # In place: each twin reads what its original read (or that tensor's twin, produced earlier), so the
    # graph stays in topological order.
    for index, twin in replacements.items():
        graph.node[index].CopyFrom(twin)
    graph.initializer.append(numpy_helper.from_array(np.array([3], dtype=np.int64), f"{prefix}/axis3"))
    _drop_unused_nodes(graph)
    return True


def _confidence_from_softmax(graph: onnx.GraphProto, channels_last: str, prefix: str) -> bool:
    """Replaces `Reciprocal(Squeeze(ReduceSum(Exp(Sub(x, ReduceMax(x))))))` over the last axis of the channels-last
    logits `x` (what _confidence_channels_last leaves) by `ReduceMax(Softmax(x, axis=3))`, the same number: the
    winning class's probability is exp(0) / sum = 1 / sum. onnxruntime's Softmax over the last axis is one
    vectorised pass per pixel (max, exponentials, sum, scale), where the chain wrote and read two [N,H,W,C]
    temporaries: on 2 CPU cores a map + confidence run is 1-4% faster (docs/performance.md, round 5).
    The sum runs in another order: the confidence moves by float rounding (~4e-7). Returns whether it did."""
    readers = _readers(graph)
    outputs = {o.name for o in graph.output}

    def only_reader(name: str, op_type: str) -> onnx.NodeProto | None:
        found = readers.get(name, [])
        if name in outputs or len(found) != 1 or found[0].op_type != op_type:
            return None
        return found[0]

    maximum = next(
        (n for n in readers.get(channels_last, []) if n.op_type == "ReduceMax" and _over_last_axis(n, prefix)), None
    )
    if maximum is None:
        return False
    chain = [maximum]
    for op_type in ("Sub", "Exp", "ReduceSum", "Squeeze", "Reciprocal"):
        node = only_reader(chain[-1].output[0], op_type)
        if node is None:
            return False
        chain.append(node)
    _, shifted, _, sums, squeezed, reciprocal = chain
    if list(shifted.input) != [channels_last, maximum.output[0]]:
        return False
    if not (_over_last_axis(sums, prefix) and _over_last_axis(squeezed, prefix)):
        return False
    softmax = helper.make_node(
        "Softmax", [channels_last], [f"{prefix}/softmax"], name=f"{prefix}/Softmax", axis=_LAST_AXIS
    )
    largest = helper.make_node(
        "ReduceMax",
        [softmax.output[0], *maximum.input[1:]],  # the axes as the graph's ReduceMax has them
        list(reciprocal.output),
        name=f"{prefix}/confidence",
        keepdims=0,
    )
    if len(maximum.input) < 2:
        largest.attribute.append(helper.make_attribute("axes", [_LAST_AXIS]))
    position = list(graph.node).index(reciprocal)
    graph.node.remove(reciprocal)
    graph.node.insert(position, largest)
    graph.node.insert(position, softmax)
    _drop_unused_nodes(graph)
    axis3 = f"{prefix}/axis3"
    if axis3 not in _names_read(graph):  # axes as attributes (before opset 18): onnxruntime would warn of it
        graph.initializer.remove(next(i for i in graph.initializer if i.name == axis3))
    return True


_LAST_AXIS = 3


def _over_last_axis(node: onnx.NodeProto, prefix: str) -> bool:
    """A reduction or Squeeze of _confidence_channels_last's making: axis 3 (an attribute, or its axis3 input)."""
    axes = [helper.get_attribute_value(a) for a in node.attribute if a.name == "axes"]
    if axes:
        return list(axes[0]) == [_LAST_AXIS]
    return len(node.input) > 1 and node.input[1] == f"{prefix}/axis3"


def _channels_last_twin(
    node: onnx.NodeProto, twins: dict[str, str], constants: dict[str, np.ndarray], prefix: str, index: int
) -> onnx.NodeProto | None:
    """`node` computed on the channels-last twins of its inputs, or None when that is not the same values."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    name = f"{prefix}/{node.name or index}"
    if node.op_type in _ELEMENTWISE:
        if not all(i in twins for i in node.input) or attributes:
            return None
        return helper.make_node(node.op_type, [twins[i] for i in node.input], [f"{name}/out"], name=name)
    axes_input = node.input[1] if len(node.input) > 1 and node.input[1] else None
    axes = tuple(int(a) for a in constants[axes_input].ravel()) if axes_input in constants else None
    if axes_input is None and "axes" in attributes:
        axes = tuple(attributes["axes"])
    if axes not in _CHANNEL_AXES or node.input[0] not in twins or (axes_input and axes_input not in constants):
        return None
    if node.op_type in _REDUCTIONS:
        if attributes.get("keepdims", 1) != 1 or attributes.get("noop_with_empty_axes", 0):
            return None
        twin = helper.make_node(node.op_type, [twins[node.input[0]]], [f"{name}/out"], name=name, keepdims=1)
    elif node.op_type == "Squeeze":
        twin = helper.make_node("Squeeze", [twins[node.input[0]]], list(node.output), name=name)
    else:
        return None
    if axes_input is None:  # axes as an attribute (ReduceMax before opset 18, Squeeze before 13)
        twin.attribute.append(helper.make_attribute("axes", [3]))
    else:
        twin.input.append(f"{prefix}/axis3")
    return twin


def _readers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Each tensor's reading nodes, in graph order."""
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def _drop_unused_nodes(graph: onnx.GraphProto) -> None:
    """Removes nodes none of whose outputs is read (by a node, a subgraph or the graph's outputs)."""
    while True:
        used = ({o.name for o in graph.output} | _names_read(graph)) - {""}  # "": an omitted optional input
        dead = [node for node in graph.node if not any(output in used for output in node.output)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)


def _names_read(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in (
                [attribute.g, *attribute.graphs]
                if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                else []
            ):
                names |= _names_read(subgraph)
    return names


def _casts_then_producer(
    name: str, producers: dict[str, onnx.NodeProto]
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
        if attribute.name in _IGNORED_FOR_LINEAR or _DEFAULTS.get(attribute.name, ...) == value:
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
