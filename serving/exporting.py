"""Fill the repository through the export stage when some model has no artefact yet."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import threading

from serving.errors import ServingError
from serving.settings import ServingSettings
from serving.triton_server import StopRequested
from serving.twin import missing_artifacts

log = logging.getLogger("serving")


def export_if_missing(settings: ServingSettings, stop: threading.Event) -> None:
    missing = missing_artifacts(settings.model_repository)
    if not missing:
        return
    if importlib.util.find_spec("export") is None:
        raise ServingError(f"not exported: {', '.join(missing)}; and the export package is not importable")
    command = [
        sys.executable,
        "-m",
        "export",
        "--if-missing",
        "--fallback-random",
        "--repository",
        str(settings.model_repository),
    ]
    log.info("exporting the missing models (%s): %s", ", ".join(missing), " ".join(command))
    # The export prints its own progress (and its loud random-weights warning) straight to the terminal.
    process = subprocess.Popen(command)
    try:
        while process.poll() is None:
            if stop.wait(0.5):
                raise StopRequested
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise ServingError(f"`{' '.join(command)}` failed with exit code {process.returncode}")
    still_missing = missing_artifacts(settings.model_repository)
    if still_missing:
        raise ServingError(f"the export finished but these are still missing: {', '.join(still_missing)}")
