"""The contract's tensor names (docs/architecture.md), importable without torch."""

INPUT_NAME = "image"
OUTPUT_NAMES = ("logits", "probabilities", "segmentation_map")
# The map is UINT8, so a class index must fit in it.
MAX_CLASSES = 256

# Each output also has a Triton model of its own that computes only it (docs/performance.md, "Pay only
# for what is asked"): `<model>__<output>`, e.g. deeplabv3_onnx__segmentation_map. The gateway derives the
# same name (gateway/inference.py); the full model keeps all three outputs for direct gRPC users.
SINGLE_OUTPUT_SEPARATOR = "__"


def single_output_model_name(model_name: str, output: str) -> str:
    return f"{model_name}{SINGLE_OUTPUT_SEPARATOR}{output}"
