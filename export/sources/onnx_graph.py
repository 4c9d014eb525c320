"""Graph surgery on a user's ONNX model before conversion: keep only the logits, free the batch dim."""

from __future__ import annotations

import onnx
from onnx import numpy_helper

from ..errors import ExportError

BATCH_DIM_NAME = "batch"


def prepare_graph(model: onnx.ModelProto, input_name: str, logits_name: str, origin: str) -> onnx.ModelProto:
    """A copy that computes only `logits_name` from `input_name`, with a symbolic batch dim.

    Models converted from frameworks that fix batch 1 (like tf2onnx output) often also bake a leading 1
    into Reshape targets; those become -1 (infer), which keeps the batch dim flowing. Whether that was
    right is proven by the parity check, which runs a batch of 2 and compares with the original model
    run image by image.
    """
    prepared = onnx.ModelProto()
    prepared.CopyFrom(model)
    graph = prepared.graph
    inputs = [i.name for i in graph.input if i.name not in {init.name for init in graph.initializer}]
    if input_name not in inputs:
        raise ExportError(f"{origin}: no graph input named {input_name!r} (inputs: {inputs})")
    if len(inputs) != 1:
        raise ExportError(f"{origin}: has {len(inputs)} inputs {inputs}; a segmentation model takes one image")
    outputs = [o.name for o in graph.output]
    if logits_name not in outputs:
        raise ExportError(f"{origin}: no graph output named {logits_name!r} (outputs: {outputs})")

    _keep_only_output(graph, logits_name)
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = BATCH_DIM_NAME
    del graph.value_info[:]  # intermediate shapes inferred for batch 1 would now be wrong
    _free_batch_in_reshapes(graph)
    try:
        onnx.checker.check_model(prepared)
    except onnx.checker.ValidationError as error:
        raise ExportError(
            f"{origin}: the graph is not valid ONNX after keeping only {logits_name!r}: {error}"
        ) from error
    return prepared


def _keep_only_output(graph: onnx.GraphProto, output_name: str) -> None:
    kept_outputs = [o for o in graph.output if o.name == output_name]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    needed, kept_nodes = {output_name}, []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept_nodes.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept_nodes))
    kept_initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept_initializers)


def _free_batch_in_reshapes(graph: onnx.GraphProto) -> None:
    initializers = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in initializers:
            continue
        target = initializers[node.input[1]]
        shape = numpy_helper.to_array(target).copy()
        if shape.ndim == 1 and len(shape) > 1 and shape[0] == 1 and -1 not in shape:
            shape[0] = -1
            target.CopyFrom(numpy_helper.from_array(shape, target.name))
