"""``python -m gateway``: serve the gateway with uvicorn, configured by GATEWAY_* environment variables.

It also takes the arguments KServe gives a transformer container, so the gateway can run as the
transformer of an InferenceService whose predictor is Triton (see ``kserve_environment``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

from gateway import defaults
from gateway.core.config import get_settings
from gateway.server import serve

log = logging.getLogger("gateway")


def predictor_target(host: str) -> str:
    """KServe's ``--predictor_host HOST[:PORT]`` as a gRPC target naming every address of HOST (Triton's
    gRPC port 8001 when none is given); a value that already is a gRPC target (``dns:``, ``ipv4:``) is kept."""
    if host.startswith(("dns:", "ipv4:", "ipv6:", "unix:")):
        return host
    name, _, port = host.partition(":")
    return f"dns:///{name}:{port or defaults.TRITON_GRPC_PORT}"


def kserve_environment(args: argparse.Namespace) -> dict[str, str]:
    """The GATEWAY_* variables the KServe arguments given stand for (none given: empty)."""
    env: dict[str, str] = {}
    if args.model_name is not None:
        env["GATEWAY_DEFAULT_FAMILY"] = args.model_name
    if args.predictor_host is not None:
        env["GATEWAY_TRITON_URL"] = predictor_target(args.predictor_host)
    if args.http_port is not None:
        env["GATEWAY_PORT"] = str(args.http_port)
    if args.workers is not None:
        env["GATEWAY_WORKERS"] = str(args.workers)
    return env


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        allow_abbrev=False,  # an unknown KServe argument must never be taken for a prefix of an option
        description="Run the segmentation gateway (FastAPI on uvicorn). Every setting is read from the "
        "environment with the GATEWAY_ prefix (see gateway/core/config.py); the options below override them. "
        "SIGTERM drains: /ready answers 503 at once, requests are still taken for GATEWAY_DRAIN_SETTLE_S "
        f"(now {settings.drain_settle_s:g} s), in-flight ones get GATEWAY_DRAIN_TIMEOUT_S "
        f"(now {settings.drain_timeout_s:g} s), then the process exits 0.",
        epilog="Other arguments KServe passes (--protocol, --predictor_protocol, --predictor_use_ssl, "
        "--enable_docs_url, ...) are accepted and logged.",
    )
    parser.add_argument("--host", default=None, help=f"bind address (GATEWAY_HOST, now {settings.host})")
    parser.add_argument("--port", type=int, default=None, help=f"port (GATEWAY_PORT, now {settings.port})")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help=f"log level (GATEWAY_LOG_LEVEL, now {settings.log_level})",
    )
    kserve = parser.add_argument_group("KServe transformer arguments")
    kserve.add_argument(
        "--model_name",
        default=None,
        help=f"model family served by default (GATEWAY_DEFAULT_FAMILY, now {settings.default_family})",
    )
    kserve.add_argument(
        "--predictor_host",
        default=None,
        metavar="HOST[:PORT]",
        help=f"Triton's service: GATEWAY_TRITON_URL becomes dns:///HOST:PORT, every address of "
        f"HOST, PORT {defaults.TRITON_GRPC_PORT} (gRPC) when absent (now {settings.triton_url})",
    )
    kserve.add_argument("--http_port", type=int, default=None, help="same as --port")
    kserve.add_argument(
        "--workers", type=int, default=None, help=f"uvicorn worker processes (GATEWAY_WORKERS, now {settings.workers})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ValidationError as exc:  # a bad GATEWAY_* variable: name it, no trace
        print(f"python -m gateway: invalid setting: {exc}", file=sys.stderr)
        return 2
    args, ignored = parser.parse_known_args(argv)
    # The KServe arguments become the GATEWAY_* variables they stand for, so the app (and every worker
    # process, which inherits the environment) reads one settings object.
    os.environ.update(kserve_environment(args))
    get_settings.cache_clear()
    try:
        settings = get_settings()
    except ValidationError as exc:
        parser.error(str(exc))
    host = args.host or settings.host
    port = args.port or settings.port
    log_level = args.log_level or settings.log_level
    # uvicorn configures only its own loggers; the gateway's (Triton failures, unhandled errors) need one too.
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if ignored:
        log.info("arguments not used by this gateway (accepted for KServe): %s", " ".join(ignored))
    log.info(
        "Triton target %s (%s), default model %s",
        settings.triton_url,
        settings.triton_lb_policy,
        settings.default_family,
    )
    return serve(settings, host=host, port=port, log_level=log_level)


if __name__ == "__main__":
    sys.exit(main())
