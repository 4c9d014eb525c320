"""The embedded launcher: export if needed → twin → tritonserver → every model READY → gateway → supervise.

It stays in the foreground; SIGINT/SIGTERM stop the gateway, then Triton, and leave no process and no
shared-memory region of this server behind.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass

from serving.errors import ServingError
from serving.exporting import export_if_missing
from serving.gateway_process import Gateway
from serving.ports import ensure_free
from serving.processes import live_group_members
from serving.server_tree import prepare_server_tree
from serving.settings import ServingSettings
from serving.supervisor import RestartPolicy, supervise
from serving.triton_server import StopRequested, TritonServer
from serving.twin import build_twin
from serving.watcher import Fingerprint, RepositoryWatcher, TritonRepositoryApi, scan, watch

# Logged once everything is up and supervision begins (tests wait for it before killing tritonserver).
SUPERVISING_MESSAGE = "serving; Ctrl-C to stop"
log = logging.getLogger("serving")

GATEWAY_READY_TIMEOUT_S = 120


@dataclass(frozen=True)
class LaunchOptions:
    export: bool = True
    gateway: bool = True


def run(settings: ServingSettings, options: LaunchOptions) -> int:
    stop = threading.Event()
    _install_stop_handlers(stop)
    triton: TritonServer | None = None
    gateway: Gateway | None = None
    try:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        _refuse_second_launcher(settings)
        ports = settings.triton_ports() + (settings.gateway_ports() if options.gateway else [])
        ensure_free(ports)  # before a minutes-long export, so a conflict fails fast
        if options.export:
            export_if_missing(settings, stop)
            ensure_free(ports)

        tree = prepare_server_tree(settings.run_dir)
        served = scan(settings.model_repository)  # before the twin: a change after this is picked up later
        models = build_twin(settings.model_repository, settings.twin_repository)
        log.info("twin repository %s: %s", settings.twin_repository, ", ".join(m.name for m in models))

        triton = TritonServer(settings, tree, [m.name for m in models])
        started = time.monotonic()
        triton.start()
        log.info("tritonserver started (pid %s), log: %s", triton.process.pid, settings.triton_log)
        triton.wait_ready(settings.ready_timeout_s, stop)
        log.info(
            "every model is READY after %.1f s: Triton HTTP %s, gRPC %s",
            time.monotonic() - started,
            settings.triton_http_url,
            settings.triton_grpc_url,
        )

        if options.gateway:
            gateway = Gateway(settings)
            gateway.start()
            gateway.wait_healthy(GATEWAY_READY_TIMEOUT_S, stop)
            log.info("gateway ready on %s (log: %s)", settings.gateway_url, settings.gateway_log)
        if settings.watch_interval_s > 0:
            _watch_repository(settings, triton, served, stop)
        log.info(SUPERVISING_MESSAGE)
        supervise(triton, gateway, RestartPolicy(max_restarts=settings.max_restarts), settings.ready_timeout_s, stop)
        return 0
    except StopRequested:
        return 0
    except ServingError as exc:
        log.error("%s", exc)
        return 1
    finally:
        # A second Ctrl-C during the shutdown must not leave half-stopped processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if gateway is not None:
            log.info("stopping the gateway")
            gateway.stop()
        if triton is not None:
            log.info("stopping tritonserver")
            triton.stop()
        log.info("stopped")


def _watch_repository(
    settings: ServingSettings, triton: TritonServer, served: dict[str, Fingerprint], stop: threading.Event
) -> None:
    """Serve models exported (or removed) from now on without a restart (serving/watcher.py)."""

    def follow(names: list[str]) -> None:
        triton.models = names  # a restarted tritonserver must have these READY
        log.info("serving now: %s", ", ".join(names) or "no model")

    api = TritonRepositoryApi(settings.triton_http_url, timeout_s=settings.ready_timeout_s)
    watch(
        RepositoryWatcher(settings.model_repository, settings.twin_repository, api, served, follow),
        settings.watch_interval_s,
        stop,
    )
    log.info(
        "watching %s every %g s for exported or removed models", settings.model_repository, settings.watch_interval_s
    )


def _install_stop_handlers(stop: threading.Event) -> None:
    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def _refuse_second_launcher(settings: ServingSettings) -> None:
    """Two launchers on one run directory would regenerate each other's twin and remove each other's shm."""
    for pid_file in (settings.triton_pid_file, settings.gateway_pid_file):
        try:
            pid = int(pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            continue
        if live_group_members(pid):
            raise ServingError(
                f"{pid_file} names a running process ({pid}): another launcher uses SERVING_RUN_DIR={settings.run_dir}"
            )
        pid_file.unlink(missing_ok=True)
