"""Response formats: one module per format family, chosen by ``registry`` from ``response_format``/``Accept``.

The values they render (``InferenceResult``, ``ModelInfo``, ``RenderOptions``) are defined in gateway.domain.
"""
from __future__ import annotations

# bench/encoding.py still imports these names from here.
from gateway.domain import RESULT_TO_OUTPUT, RESULT_TYPES, InferenceResult, ModelInfo

__all__ = ["RESULT_TO_OUTPUT", "RESULT_TYPES", "InferenceResult", "ModelInfo"]
