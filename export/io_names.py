"""The contract's tensor names (docs/architecture.md), importable without torch."""

INPUT_NAME = "image"
OUTPUT_NAMES = ("logits", "probabilities", "segmentation_map")
# The map is UINT8, so a class index must fit in it.
MAX_CLASSES = 256
