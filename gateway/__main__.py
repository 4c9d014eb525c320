"""``python -m gateway``: serve the gateway with uvicorn, configured by GATEWAY_* environment variables."""
from __future__ import annotations

import argparse
import logging

import uvicorn

from gateway.core.config import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="Run the segmentation gateway (FastAPI on uvicorn). Every setting is read from the "
        "environment with the GATEWAY_ prefix (see gateway/core/config.py); the options below override them.",
    )
    parser.add_argument("--host", default=settings.host, help=f"bind address (GATEWAY_HOST, now {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port (GATEWAY_PORT, now {settings.port})")
    parser.add_argument("--log-level", default=settings.log_level, choices=["debug", "info", "warning", "error"],
                        help=f"log level (GATEWAY_LOG_LEVEL, now {settings.log_level})")
    args = parser.parse_args(argv)
    # uvicorn configures only its own loggers; the gateway's (Triton failures, unhandled errors) need one too.
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        "gateway.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        workers=settings.workers,
    )


if __name__ == "__main__":
    main()
