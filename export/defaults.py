"""Defaults shared by the CLI and the pipeline, in a module light enough for `--help` (no torch import)."""

DEFAULT_FAMILY = "deeplabv3"
DEFAULT_ARCH = "deeplabv3_mobilenet_v3_large"
DEFAULT_INPUT_SIZE = (512, 512)
DEFAULT_MAX_BATCH_SIZE = 8
