"""The export's own defaults, in a module light enough for `--help` (no torch import).

The default family is every process's (gateway.defaults.DEFAULT_FAMILY); these say how the export builds it.
"""

DEFAULT_ARCH = "deeplabv3_mobilenet_v3_large"
DEFAULT_INPUT_SIZE = (512, 512)
DEFAULT_MAX_BATCH_SIZE = 8
