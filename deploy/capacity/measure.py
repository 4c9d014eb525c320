"""One Triton replica's capacity for the requests pods serve: map-only and summary (docs/scaling.md, Capacity model).

Drives a running stack (``python -m serving``, Triton confined to a fixed CPU set with ``taskset``) with the
closed-loop load generator of ``bench.load`` at each concurrency, for three request paths:

- ``triton-map``: Triton over gRPC asking only the map, through the map's own model (what the gateway asks);
- ``gateway-png``: ``POST /infer/file`` with ``requested_results_types=segmentation_map`` and
  ``response_format=png`` (the map as a PNG);
- ``gateway-summary``: the same with ``response_format=summary`` (class fractions, no map).

Prints one line per (path, concurrency) and, last, one JSON object of every figure. Run it on CPUs the
Triton server does not use (``taskset -c 0 ...``), from the repository root:

    PYTHONPATH=. taskset -c 0 .venv/bin/python deploy/capacity/measure.py --gateway-url ... --triton-url ...
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.inputs import load_photo
from bench.load import LoadPlan, run_load
from bench.models import discover
from bench.request_paths import GatewayPath, TritonPath
from bench.scenarios import MAP_ONLY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8080")
    parser.add_argument("--triton-url", default="127.0.0.1:8001")
    parser.add_argument("--family", default="deeplabv3")
    parser.add_argument("--photo", type=Path, default=Path("/work/shared/images/dog1.jpg"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per (path, concurrency)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per client first")
    parser.add_argument("--paths", nargs="+", default=["triton-map", "gateway-png", "gateway-summary"])
    args = parser.parse_args()

    model = discover(args.triton_url, args.family)["onnx"]
    photo = load_photo(args.photo, model.input_shape[1:])
    senders = {
        "triton-map": TritonPath(args.triton_url, model.for_outputs(MAP_ONLY), photo.model_input).make_sender,
        "gateway-png": GatewayPath(args.gateway_url, photo.name, photo.data, "onnx", MAP_ONLY, "png").make_sender,
        "gateway-summary": GatewayPath(
            args.gateway_url, photo.name, photo.data, "onnx", MAP_ONLY, "summary"
        ).make_sender,
    }
    results = []
    for name in args.paths:
        for concurrency in args.concurrency:
            plan = LoadPlan(concurrency, requests=10**6, warmup=args.warmup, max_seconds=args.seconds)
            figures, errors = run_load(senders[name], plan)
            load = os.getloadavg()
            row = {"path": name, **figures.as_dict(), "errors_seen": errors, "loadavg": [round(x, 2) for x in load]}
            results.append(row)
            print(
                f"{name:16} c={concurrency} {figures.throughput_rps or 0:6.2f} req/s  p50 {figures.p50_ms or 0:7.1f} ms"
                f"  p95 {figures.p95_ms or 0:7.1f} ms  n={figures.requests} errors={figures.errors}"
                f"  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
                flush=True,
            )
    print(json.dumps({"model": model.for_outputs(MAP_ONLY), "photo": photo.name, "results": results}))


if __name__ == "__main__":
    main()
