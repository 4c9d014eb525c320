"""`python -m serving.loadtest`: perf_analyzer against the running Triton, one run per model, one table.

perf_analyzer sends random UINT8 images of each model's input shape (taken from the server's metadata, or
--shape) and, as it always does, asks for every output, FP32 logits and probabilities included: the numbers
are an upper bound on what a client that wants only the segmentation map pays. The photo models
(`<model>_photo…`, input `photo`) get real encoded photos instead (--photos, perf_analyzer's --input-data JSON, one
photo per request in turn), so their figures are photos/s with decoding and resizing in Triton.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.contract import PHOTO_INPUT_NAME
from serving import perf_analyzer
from serving.errors import ServingError
from serving.settings import ServingSettings

PERCENTILES = ("p50", "p90", "p95", "p99")


@dataclass(frozen=True)
class Measurement:
    model: str
    concurrency: int
    throughput: float  # inferences per second
    latency_ms: dict[str, float]  # percentile → client-side latency


def default_url(protocol: str) -> str:
    """Where the launcher's Triton listens, from the launcher's own settings (the same environment)."""
    settings = ServingSettings.from_env()
    url = settings.triton_grpc_url if protocol == "grpc" else settings.triton_http_url
    return url.removeprefix("http://")


def _client(protocol: str, url: str) -> Any:  # tritonclient ships no types
    if protocol == "grpc":
        import tritonclient.grpc as client_module
    else:
        import tritonclient.http as client_module
    return client_module.InferenceServerClient(url)


def ready_models(protocol: str, url: str) -> list[str]:
    client = _client(protocol, url)
    try:
        index = client.get_model_repository_index(**({"as_json": True} if protocol == "grpc" else {}))
    except Exception as exc:  # tritonclient raises its own exception types per protocol
        raise ServingError(f"cannot reach Triton at {url} over {protocol}: {exc}") from exc
    entries = index["models"] if isinstance(index, dict) else index
    return sorted(entry["name"] for entry in entries if entry.get("state") == "READY")


def input_shapes(protocol: str, url: str, model: str) -> list[str]:
    """`name:d1,d2,...` for each input, without the batch dimension (perf_analyzer's --shape syntax)."""
    client = _client(protocol, url)
    try:
        metadata = client.get_model_metadata(model, **({"as_json": True} if protocol == "grpc" else {}))
    except Exception as exc:  # tritonclient raises its own exception types per protocol
        raise ServingError(f"no metadata for model {model!r} at {url}: {exc}") from exc
    shapes = []
    for tensor in metadata["inputs"]:
        dims = [int(d) for d in tensor["shape"]][1:]  # models of this project batch (max_batch_size > 0)
        if any(d < 0 for d in dims):
            raise ServingError(f"{model}: input {tensor['name']} has dynamic dims {dims}: pass --shape")
        shapes.append(f"{tensor['name']}:{','.join(map(str, dims))}")
    return shapes


def concurrency_levels(spec: str) -> list[int]:
    """`N` or `START:END[:STEP]` (perf_analyzer's --concurrency-range syntax) as a list of levels."""
    try:
        parts = [int(part) for part in spec.split(":")]
    except ValueError:
        raise ServingError(f"--concurrency {spec!r}: expected N or START:END[:STEP]") from None
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    start, end, step = [*parts, 1][:3]
    if not (1 <= start <= end and step >= 1):
        raise ServingError(f"--concurrency {spec!r}: expected 1 <= START <= END and STEP >= 1")
    return list(range(start, end + 1, step))


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def photo_files(paths: list[Path]) -> list[Path]:
    """The photos named, the ones of the folders named (sorted); ServingError when there are none."""
    found = [
        file
        for path in paths
        for file in (sorted(path.iterdir()) if path.is_dir() else [path])
        if file.is_file() and file.suffix.lower() in PHOTO_SUFFIXES
    ]
    if not found:
        raise ServingError(f"no photo in {', '.join(map(str, paths)) or 'nothing'} (--photos)")
    return found


def photo_input_data(photos: list[Path], input_name: str, target: Path) -> Path:
    """perf_analyzer's --input-data JSON: one request per photo, the BYTES element serialised as Triton does
    (4-byte little-endian length, then the bytes) and base64-encoded."""
    steps = []
    for photo in photos:
        data = photo.read_bytes()
        element = len(data).to_bytes(4, "little") + data
        steps.append({input_name: {"b64": base64.b64encode(element).decode(), "shape": [1]}})
    target.write_text(json.dumps({"data": steps}))
    return target


def measure(
    tool: perf_analyzer.PerfAnalyzer, model: str, args: argparse.Namespace, shapes: list[str]
) -> list[Measurement]:
    # One run per level: perf_analyzer refuses --request-count with several levels in one run.
    return [
        m for level in concurrency_levels(args.concurrency) for m in _measure_level(tool, model, args, shapes, level)
    ]


def _measure_level(
    tool: perf_analyzer.PerfAnalyzer, model: str, args: argparse.Namespace, shapes: list[str], level: int
) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="loadtest-") as scratch:
        report = Path(scratch) / "report.csv"
        command = [
            str(tool.binary),
            "-m",
            model,
            "-u",
            args.url,
            "-i",
            args.protocol,
            "-b",
            str(args.batch_size),
            "--concurrency-range",
            str(level),
            "-f",
            str(report),
        ]
        for shape in shapes:
            command += ["--shape", shape]
        if any(shape.startswith(f"{PHOTO_INPUT_NAME}:") for shape in shapes):
            command += [
                "--input-data",
                str(photo_input_data(args.photo_files, PHOTO_INPUT_NAME, Path(scratch) / "photos.json")),
            ]
        if args.requests:
            # A fixed number of requests: no stability search, so it ends even on a noisy shared machine.
            command += ["--request-count", str(args.requests)]
        else:
            command += ["-p", str(int(args.duration * 1000)), "-r", str(args.max_trials), "-s", str(args.stability)]
        result = subprocess.run(command, env=tool.environment(), capture_output=True, text=True)
        if result.returncode != 0 or not report.is_file():
            raise ServingError(
                f"perf_analyzer failed for {model} (exit {result.returncode}): {' '.join(command)}\n"
                + _excerpt(result.stdout + result.stderr)
            )
        return parse_report(model, report.read_text())


def _excerpt(output: str) -> str:
    """Usage errors come first (then the whole help text); run errors come last."""
    lines = output.splitlines()
    return "\n".join(lines if len(lines) <= 30 else [*lines[:5], "...", *lines[-20:]])


def parse_report(model: str, text: str) -> list[Measurement]:
    rows = list(csv.DictReader(text.splitlines()))
    return [
        Measurement(
            model=model,
            concurrency=int(row["Concurrency"]),
            throughput=float(row["Inferences/Second"]),
            latency_ms={p: float(row[f"{p} latency"]) / 1000 for p in PERCENTILES},  # the report is in µs
        )
        for row in rows
    ]


def format_table(measurements: list[Measurement]) -> str:
    header = f"{'model':<28} {'conc':>4} {'infer/s':>9} " + " ".join(f"{p + ' ms':>9}" for p in PERCENTILES)
    lines = [header, "-" * len(header)]
    for m in measurements:
        lines.append(
            f"{m.model:<28} {m.concurrency:>4} {m.throughput:>9.2f} "
            + " ".join(f"{m.latency_ms[p]:>9.1f}" for p in PERCENTILES)
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m serving.loadtest",
        description="Load-test the running Triton with perf_analyzer (from the tritonclient 2.51.0 wheel; fetched "
        "and linked under SERVING_RUN_DIR if needed): throughput and p50/p90/p95/p99 latency per model.",
        epilog="examples:\n  python -m serving.loadtest                                  # every READY model, gRPC\n"
        "  python -m serving.loadtest --concurrency 1:4 --duration 10\n"
        "  python -m serving.loadtest --protocol http --models deeplabv3_onnx --requests 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="default grpc")
    parser.add_argument(
        "--url", help="Triton host:port (default from TRITON_HOST and TRITON_GRPC_PORT/TRITON_HTTP_PORT)"
    )
    parser.add_argument("--models", help="comma-separated model names (default: every READY model)")
    parser.add_argument(
        "--concurrency",
        default="1",
        help="requests in flight: N or START:END[:STEP] (perf_analyzer --concurrency-range; default 1)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement window (default 5)")
    parser.add_argument(
        "--max-trials", type=int, default=5, help="windows tried before giving up on stability (default 5)"
    )
    parser.add_argument(
        "--stability", type=float, default=20.0, help="allowed variation between windows in %% (default 20)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=0,
        help="measure exactly N requests per concurrency instead of stable time windows (smoke runs)",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="images per request (default 1)")
    parser.add_argument(
        "--shape",
        action="append",
        default=[],
        help="input shape without the batch dim, e.g. image:3,512,512 (default: the model's metadata)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        nargs="+",
        default=[],
        metavar="PHOTO|DIR",
        help="encoded photos for the photo models (input 'photo'), sent one per request in turn; without them "
        "the photo models are left out",
    )
    args = parser.parse_args(argv)
    args.url = args.url or default_url(args.protocol)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tool = perf_analyzer.prepare(ServingSettings.from_env().run_dir)
        models = args.models.split(",") if args.models else ready_models(args.protocol, args.url)
        if not models:
            raise ServingError(f"no READY model on {args.url}")
        args.photo_files = photo_files(args.photos) if args.photos else []
        measurements = []
        for model in models:
            shapes = args.shape or input_shapes(args.protocol, args.url, model)
            if any(shape.startswith(f"{PHOTO_INPUT_NAME}:") for shape in shapes) and not args.photo_files:
                print(f"skipping {model}: a photo model, and no --photos given", file=sys.stderr, flush=True)
                continue
            print(
                f"measuring {model} ({', '.join(shapes)}, {args.protocol}, concurrency {args.concurrency}) ...",
                file=sys.stderr,
                flush=True,
            )
            measurements += measure(tool, model, args, shapes)
    except ServingError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 1
    print(format_table(measurements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
