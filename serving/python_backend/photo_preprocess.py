"""The preprocessing step of the photo models, run by Triton's Python backend: encoded photos → the model's tensor.

`<family>_preprocess` takes `photo` (TYPE_STRING, one encoded image per element, batchable) and returns `image`
(UINT8 [3, H, W], H and W from its output's dims): the gateway's own decoder and resize (gateway/images.py:
EXIF orientation, first frame, JPEG draft decoding, bilinear resize, planar RGB), so a map from a photo sent to
Triton is the map the gateway answers for it. The export copies this file as the model's `model.py` and the
gateway's image modules beside it (`gateway/`), so NVIDIA's image runs it with only Pillow and numpy added.

A photo that cannot be decoded fails its own request with the decoder's message; the other requests of the batch
are answered and the model stays READY. Limits: the config parameters `segmentation.max_image_pixels` and
`segmentation.max_photo_bytes` (gateway.contract), which the export writes from the gateway's defaults
(gateway.defaults, also taken when a config lacks them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the gateway's image modules, copied beside this file

from gateway import images
from gateway.contract import INPUT_NAME, MAX_IMAGE_PIXELS_PARAM, MAX_PHOTO_BYTES_PARAM, PHOTO_INPUT_NAME
from gateway.defaults import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from gateway.errors import ServiceError


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self._name = args["model_name"]
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        # The export writes both; a config written by hand without them gets the gateway's defaults.
        self._max_pixels = int(parameters.get(MAX_IMAGE_PIXELS_PARAM) or MAX_IMAGE_PIXELS)
        self._max_bytes = int(parameters.get(MAX_PHOTO_BYTES_PARAM) or MAX_IMAGE_BYTES)
        dims = next(output["dims"] for output in config["output"] if output["name"] == INPUT_NAME)
        self._size = (int(dims[1]), int(dims[2]))  # (H, W)

    def execute(self, requests: list) -> list:
        return [self._one(request) for request in requests]

    def _one(self, request: pb_utils.InferenceRequest) -> pb_utils.InferenceResponse:
        tensor = pb_utils.get_input_tensor_by_name(request, PHOTO_INPUT_NAME)
        if tensor is None:
            return _error(f"{self._name}: input '{PHOTO_INPUT_NAME}' is missing")
        photos = tensor.as_numpy().reshape(-1)
        batch = np.empty((len(photos), 3, *self._size), dtype=np.uint8)
        for index, data in enumerate(photos):
            raw = data if isinstance(data, bytes) else bytes(data)
            try:
                photo = images.decode_with_limits(
                    raw, max_pixels=self._max_pixels, max_bytes=self._max_bytes, draft_size=self._size
                )
                batch[index] = images.to_model_input(photo, self._size)
            except ServiceError as exc:
                return _error(f"{self._name}: photo {index}: {exc.detail}")
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(INPUT_NAME, batch)])


def _error(message: str) -> pb_utils.InferenceResponse:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))
