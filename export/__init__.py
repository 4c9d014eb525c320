"""Build segmentation models into a Triton model repository (TorchScript + ONNX), with a parity proof.

Entry points: `python -m export` (the CLI), `python -m export.compare` (the parity check) and
`export.pipeline.export_family(...)` for code (e.g. test fixtures) that wants the same thing in-process.
"""
