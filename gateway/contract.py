"""The model contract's names (docs/architecture.md, "The model contract"), written once.

What the export writes into every Triton model (tensor names, config `parameters`, runtime names, the name of
a single-output model) and what the gateway, the bench, the clients and the tests read back. Every package
imports these from here, so a writer and its readers cannot drift apart.

Lives in the gateway package because the gateway image ships only ``gateway/`` (docker/gateway.Dockerfile);
it imports only the standard library, so export, serving, client and bench take it without the gateway's
dependencies. The default family is a deployment default, beside the ports: gateway.defaults.DEFAULT_FAMILY.
"""

from __future__ import annotations

# Tensors. libtorch maps the outputs by their order in config.pbtxt, so OUTPUT_NAMES's order is contract too.
INPUT_NAME = "image"  # UINT8 [N, 3, H, W]
LOGITS = "logits"  # FP32 [N, C, H, W]
PROBABILITIES = "probabilities"  # FP32 [N, C, H, W], softmax of the logits over C
SEGMENTATION_MAP = "segmentation_map"  # UINT8 [N, H, W], argmax of the logits over C
OUTPUT_NAMES: tuple[str, ...] = (LOGITS, PROBABILITIES, SEGMENTATION_MAP)
# The map is UINT8, so a class index must fit in it.
MAX_CLASSES = 256

# Config `parameters` that make a Triton model a segmentation model: export/triton_config.py writes them,
# model discovery (gateway, bench) reads them over gRPC.
FAMILY_PARAM = "segmentation.family"
RUNTIME_PARAM = "segmentation.runtime"  # one of RUNTIMES
LABELS_PARAM = "segmentation.labels"  # the class names, comma-separated, in index order
# What the weights are, for clients (GET /models, summaries): the gateway reads them from Triton, never from disk.
WEIGHTS_PARAM = "segmentation.weights"  # one of WEIGHT_KINDS
WEIGHTS_FILE_PARAM = "segmentation.weights_file"  # the file's base name (kind "file" only)
WEIGHTS_SHA256_PARAM = "segmentation.weights_sha256"  # its sha256 (kind "file" only)
WEIGHT_KINDS: tuple[str, ...] = ("pretrained", "random", "file")
# On a single-output model only: the full model it computes one output of. It carries no family/runtime
# parameters, so model discovery (gateway, bench) lists the full model alone.
OUTPUT_OF_PARAM = "segmentation.output_of"

# The runtimes a model family can be served with (the gateway's ``infer_model_type``), each a Triton model.
# onnx_int8: the int8 CPU model, written only when exported with --int8-calibration (docs/performance.md).
TORCH_RUNTIME = "torch"
ONNX_RUNTIME = "onnx"
ONNX_INT8_RUNTIME = "onnx_int8"
RUNTIMES: tuple[str, ...] = (TORCH_RUNTIME, ONNX_RUNTIME, ONNX_INT8_RUNTIME)

# Beside each full model, the export writes one model per output that computes only that output
# (docs/architecture.md, "The repository"): `<model>__<output>`, e.g. deeplabv3_onnx__segmentation_map.
# The export names them, the gateway and the bench ask them: one rule, here.
SINGLE_OUTPUT_SEPARATOR = "__"


def single_output_model_name(model_name: str, output: str) -> str:
    return f"{model_name}{SINGLE_OUTPUT_SEPARATOR}{output}"
