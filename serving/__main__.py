"""`python -m serving`: run the model repository on the embedded Triton, with the gateway in front."""

from __future__ import annotations

import argparse
import logging
import sys

from serving.embedded import LaunchOptions, run
from serving.errors import ServingError
from serving.settings import ServingSettings

DESCRIPTION = """\
Serve MODEL_REPOSITORY with the Triton 2.51 server of the nvidia-pytriton wheel (Python-backend twin of
each model, generated under SERVING_RUN_DIR), then start the gateway, and stay in the foreground.
Ctrl-C or SIGTERM stops everything. If tritonserver dies it is restarted (SERVING_MAX_RESTARTS times).
Models exported into (or removed from) MODEL_REPOSITORY while serving are loaded (unloaded) without a restart.
"""
EPILOG = """\
environment (defaults; every variable: docs/architecture.md):
  MODEL_REPOSITORY=model_repository    SERVING_RUN_DIR=.run (twin, tritonserver.log, gateway.log, *.pid)
  TRITON_HOST=127.0.0.1   TRITON_HTTP_PORT=8000   TRITON_GRPC_PORT=8001   TRITON_METRICS_PORT=8002
  GATEWAY_HOST=127.0.0.1  GATEWAY_PORT=8080       (other GATEWAY_* settings pass through to the gateway)
  SERVING_READY_TIMEOUT_S=300  SERVING_MAX_RESTARTS=5
  SERVING_WATCH_INTERVAL_S=2  (scan MODEL_REPOSITORY; exported models are loaded, removed ones unloaded; 0: off)
  SERVING_TRITON_ARGS=""  (more tritonserver options, e.g. "--log-verbose=1")
  SERVING_INTRA_OP_THREADS=<cores>  SERVING_INTER_OP_THREADS=1  (threads of each model instance)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--no-gateway", action="store_true", help="run Triton only (development, Triton-only tests)")
    parser.add_argument(
        "--skip-export", action="store_true", help="never run the export; fail if a model has no artefact"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s serving %(levelname)s %(message)s", stream=sys.stderr)
    try:
        settings = ServingSettings.from_env()
    except ServingError as exc:
        logging.getLogger("serving").error("%s", exc)
        return 2
    return run(settings, LaunchOptions(export=not args.skip_export, gateway=not args.no_gateway))


if __name__ == "__main__":
    sys.exit(main())
