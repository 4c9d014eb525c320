"""Response formats: one module per format family, chosen by ``registry`` from ``response_format``/``Accept``.

The values they render (``InferenceResult``, ``ModelInfo``, ``RenderOptions``) are defined in gateway.domain.
"""
