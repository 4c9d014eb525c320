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
CONFIDENCE = "confidence"  # FP32 [N, H, W], the winning probability per pixel (max of the probabilities over C)
OUTPUT_NAMES: tuple[str, ...] = (LOGITS, PROBABILITIES, SEGMENTATION_MAP, CONFIDENCE)
# What a full model exported before the confidence output existed serves; the gateway still serves it.
LEGACY_OUTPUT_NAMES: tuple[str, ...] = (LOGITS, PROBABILITIES, SEGMENTATION_MAP)
# The map is UINT8, so a class index must fit in it.
MAX_CLASSES = 256

# The gateway API's result names (`requested_results_types`, the keys of `requested_results`) and the contract
# output each one is: what the gateway answers, the clients ask and the bench measures.
LOGITS_RESULT = "logits"
DISTRIBUTION_RESULT = "pixels_distribution"
MAP_RESULT = "segmentation_map"
RESULT_TO_OUTPUT: dict[str, str] = {
    LOGITS_RESULT: LOGITS,
    DISTRIBUTION_RESULT: PROBABILITIES,
    MAP_RESULT: SEGMENTATION_MAP,
}
RESULT_TYPES: tuple[str, ...] = tuple(RESULT_TO_OUTPUT)

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
# On a partial model only (see PARTIAL_OUTPUT_SETS): the full model it computes some outputs of. It carries no
# family/runtime parameters, so model discovery (gateway, bench) lists the full model alone.
OUTPUT_OF_PARAM = "segmentation.output_of"

# The runtimes a model family can be served with (the gateway's ``infer_model_type``), each a Triton model.
# onnx_int8: the int8 CPU model, written only when exported with --int8-calibration (docs/performance.md).
TORCH_RUNTIME = "torch"
ONNX_RUNTIME = "onnx"
ONNX_INT8_RUNTIME = "onnx_int8"
RUNTIMES: tuple[str, ...] = (TORCH_RUNTIME, ONNX_RUNTIME, ONNX_INT8_RUNTIME)
# The runtime of a caller who names none (the v2 routes, the clients, the `segment` CLI): the faster one on CPU.
DEFAULT_RUNTIME = ONNX_RUNTIME

# Beside each full model, the export writes one model per output set below that computes only those outputs
# (docs/architecture.md, "The repository"): `<model>__<output>[__<output>]`, e.g. deeplabv3_onnx__segmentation_map.
# One output each for the callers who want one array; the map with its confidence for summaries and bundles.
# The export names them, the gateway and the bench ask them: one rule, here.
PARTIAL_SEPARATOR = "__"
PARTIAL_OUTPUT_SETS: tuple[tuple[str, ...], ...] = (
    (LOGITS,),
    (PROBABILITIES,),
    (SEGMENTATION_MAP,),
    (SEGMENTATION_MAP, CONFIDENCE),
)


def in_contract_order(outputs: tuple[str, ...] | list[str] | set[str] | frozenset[str]) -> tuple[str, ...]:
    return tuple(name for name in OUTPUT_NAMES if name in outputs)


# Set by the embedded twin (serving/twin.py) on a full model whose own process runs its partial files: asked for
# exactly a partial set, it computes only that, so callers ask it directly and skip the partial model's ensemble
# (one scheduling hop that cost ~20 ms a request on 2 CPU cores). Native repositories (compose) never carry it.
SELECTS_PARTIALS_PARAM = "serving.selects_partials"


def partial_model_name(model_name: str, outputs: tuple[str, ...] | list[str] | frozenset[str]) -> str:
    """The model that computes only ``outputs`` of ``model_name`` (named in contract order)."""
    return PARTIAL_SEPARATOR.join((model_name, *in_contract_order(outputs)))


def partial_outputs_of(name: str) -> tuple[str, ...] | None:
    """The outputs a `<model>__<output>[__<output>]` model computes, or None for any other model name."""
    model, *outputs = name.split(PARTIAL_SEPARATOR)
    if not model or not outputs or tuple(outputs) not in PARTIAL_OUTPUT_SETS:
        return None
    return tuple(outputs)


# Photos in, maps out, inside Triton (docs/protocols.md): per family a preprocessing model (Python backend, the
# gateway's own decoder) and per runtime an ensemble of it and the full model; `<model>_photo__segmentation_map`
# over the map's partial model. Their input is the encoded photo, one TYPE_STRING element per image.
PHOTO_INPUT_NAME = "photo"
PHOTO_SUFFIX = "_photo"
PREPROCESS_SUFFIX = "_preprocess"


# The preprocessing model's decode limits (its config `parameters`, written by the export from the gateway's
# defaults, gateway.defaults.MAX_IMAGE_PIXELS / MAX_IMAGE_BYTES).
MAX_IMAGE_PIXELS_PARAM = "segmentation.max_image_pixels"
MAX_PHOTO_BYTES_PARAM = "segmentation.max_photo_bytes"


def photo_model_name(model_name: str) -> str:
    return f"{model_name}{PHOTO_SUFFIX}"


def preprocess_model_name(family: str) -> str:
    return f"{family}{PREPROCESS_SUFFIX}"
