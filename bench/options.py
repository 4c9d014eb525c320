"""The harness's command line: every count and address can be changed, defaults fit ~5 min on 2 cores."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.stack import Endpoints
from export.paths import default_images_dir
from gateway.core.config import Settings as GatewaySettings
from serving.settings import ServingSettings

DEFAULT_PHOTOS = ("dog1.jpg", "people.jpg")


@dataclass(frozen=True)
class Options:
    endpoints: Endpoints
    family: str
    repository: Path
    photos: tuple[Path, ...]
    concurrency: tuple[int, ...]
    requests: int  # measured requests at concurrency 1, per (path, photo)
    requests_concurrent: int  # measured requests at each higher concurrency
    heavy_requests: int  # for the ~228 MB all-results JSON and the npz of the same arrays
    warmup: int  # per worker, before the clock starts
    max_seconds: float  # per measured run
    reference_threads: int
    encode_repeats: int
    output: Path
    start_stack: bool
    start_timeout_s: float
    api_key: str | None = None  # sent as X-API-Key when the gateway requires keys
    only: tuple[str, ...] = ()  # scenario name prefixes to run (empty: all)
    encoding: bool = True  # the in-process JSON encoding comparison (~10-20 s of one core)
    bulk_photos: int = 64  # distinct photos of the bulk scenario (segment DIR --summary vs in-process); 0: skip
    bulk_sources: Path | None = None  # the folder they are cut from (None: the shared images folder)

    def selects(self, scenario: str) -> bool:
        return not self.only or scenario.startswith(self.only)


def parser() -> argparse.ArgumentParser:
    env = Endpoints.from_env()
    gateway_settings = GatewaySettings()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark every serving path against the network alone (onnxruntime in-process, its default "
        "session options; the same without spinning threads as a second column) on the same photos; at "
        "concurrency 1 each path's requests take turns with the network's in short blocks, and its ratio is to "
        "those. Also a folder of photos through `segment DIR --summary` against an in-process loop, and the "
        "stack's memory (PSS). "
        "Uses the stack at the addresses of the environment (docs/architecture.md); starts "
        "`python -m serving` for the run if none answers. Writes JSON results, prints a table, and "
        "prints one JSON object of headline figures as its last line.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--gateway-url", default=env.gateway_url, help="gateway base URL")
    p.add_argument("--triton-url", default=env.triton_grpc_url, help="Triton gRPC host:port")
    p.add_argument("--family", default=gateway_settings.default_family, help="model family under test")
    p.add_argument(
        "--repository",
        type=Path,
        default=ServingSettings.from_env().model_repository,
        help="model repository holding <family>_onnx/<version>/model.onnx for the reference",
    )
    p.add_argument(
        "--photos",
        nargs="+",
        default=list(DEFAULT_PHOTOS),
        help="photos (paths, or names in the shared images folder); the first one also gets the "
        "heavy all-results runs and the in-process encoding comparison",
    )
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4], help="client concurrency levels")
    p.add_argument("--requests", type=int, default=20, help="measured requests per path and photo at concurrency 1")
    p.add_argument("--requests-concurrent", type=int, default=32, help="measured requests at higher concurrency")
    p.add_argument(
        "--heavy-requests",
        type=int,
        default=3,
        help="measured requests for all-results JSON/npz (at least one per client)",
    )
    p.add_argument("--warmup", type=int, default=2, help="unmeasured requests per client before each run")
    p.add_argument("--max-seconds", type=float, default=45.0, help="stop issuing requests in one run after this long")
    p.add_argument(
        "--reference-threads",
        type=int,
        default=0,
        help="onnxruntime intra-op threads of the reference (0 = its default, one per core)",
    )
    p.add_argument(
        "--encode-repeats", type=int, default=3, help="repeats of the fast JSON encoder (tolist+dumps runs once)"
    )
    p.add_argument("--output", type=Path, default=Path("artifacts/bench/results.json"), help="results file")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke-test counts: 2 requests (4 concurrent), 1 heavy, 1 warm-up, 1 encode repeat, 8 bulk photos",
    )
    p.add_argument(
        "--api-key",
        default=_first_api_key(),
        help="X-API-Key for the gateway (default: the first of GATEWAY_API_KEYS, if set)",
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=[],
        help="run only scenarios whose name starts with one of these, e.g. triton/ gateway-map/onnx "
        "(the reference always runs: every ratio needs it)",
    )
    p.add_argument("--skip-encoding", action="store_true", help="skip the in-process JSON encoding comparison")
    p.add_argument(
        "--bulk-photos",
        type=int,
        default=64,
        help="distinct photos (crops, mirror images, rescales of the shared photos, in a temporary folder) of the "
        "bulk scenario: `segment DIR --summary` against an in-process loop; 0 skips it (--quick: 8)",
    )
    p.add_argument(
        "--bulk-sources",
        type=Path,
        default=None,
        help="folder of photos the bulk scenario's photos are cut from (default: the shared images folder)",
    )
    p.add_argument("--no-start", action="store_true", help="fail instead of starting a stack when none answers")
    p.add_argument("--start-timeout", type=float, default=900.0, help="seconds to wait for a started stack")
    return p


def parse(argv: list[str] | None = None) -> Options:
    args = parser().parse_args(argv)
    if args.quick:
        args.requests, args.requests_concurrent, args.heavy_requests, args.warmup, args.encode_repeats = 2, 4, 1, 1, 1
        args.bulk_photos = min(args.bulk_photos, 8)
    if min(args.concurrency) < 1 or args.requests < 1 or args.requests_concurrent < 1 or args.heavy_requests < 1:
        parser().error("concurrency and request counts must be at least 1")
    if args.bulk_photos < 0:
        parser().error("--bulk-photos must be at least 0")
    return Options(
        endpoints=Endpoints(args.gateway_url.rstrip("/"), args.triton_url),
        family=args.family,
        repository=args.repository,
        photos=tuple(_photo_path(name) for name in args.photos),
        concurrency=tuple(sorted(set(args.concurrency))),
        requests=args.requests,
        requests_concurrent=args.requests_concurrent,
        heavy_requests=args.heavy_requests,
        warmup=args.warmup,
        max_seconds=args.max_seconds,
        reference_threads=args.reference_threads,
        encode_repeats=args.encode_repeats,
        output=args.output,
        start_stack=not args.no_start,
        start_timeout_s=args.start_timeout,
        api_key=args.api_key or None,
        only=tuple(args.only),
        encoding=not args.skip_encoding,
        bulk_photos=args.bulk_photos,
        bulk_sources=args.bulk_sources,
    )


def _first_api_key() -> str | None:
    keys = GatewaySettings().api_keys
    return keys[0] if keys else None


def _photo_path(name: str) -> Path:
    path = Path(name)
    if path.exists():
        return path
    shared = default_images_dir() / name
    if shared.exists():
        return shared
    raise SystemExit(f"bench: photo {name!r} not found (neither a path nor in {default_images_dir()})")
