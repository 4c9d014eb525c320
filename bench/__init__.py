"""The benchmark harness: every serving path measured against the model's own cost, in one run.

``python -m bench`` (``make bench``) measures, on the same photos and at concurrency 1 and 4:
onnxruntime in-process (the reference), Triton over gRPC, the gateway map-only, the gateway with all
three results in the JSON lists (response_format=json), and each faster response format the gateway offers. It writes
``artifacts/bench/results.json``, prints a table, and prints one JSON object as its last line.
"""
