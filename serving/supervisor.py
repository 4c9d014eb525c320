"""Keep tritonserver alive while serving: notice a death, say so, restart it with bounded retries."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from serving.errors import ServingError
from serving.gateway_process import Gateway
from serving.processes import log_excerpt
from serving.triton_server import TritonServer

log = logging.getLogger("serving")


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # A server that served this long after a restart has recovered: the failures before no longer count,
    # so only a crash loop (or crashes in quick succession) exhausts max_restarts.
    stable_after_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        return min(self.first_backoff_s * 2 ** (attempt - 1), self.max_backoff_s)


def supervise(
    triton: TritonServer, gateway: Gateway | None, policy: RestartPolicy, ready_timeout_s: float, stop: threading.Event
) -> None:
    """Block until `stop` is set; raise ServingError when recovery is impossible."""
    failures = 0
    up_since = time.monotonic()
    while not stop.wait(0.5):
        if gateway is not None and not gateway.running():
            raise ServingError(
                f"the gateway exited with code {gateway.exit_code()}; from {gateway.settings.gateway_log}:\n"
                + log_excerpt(gateway.process.log_since_start(), error_lines=0, tail_lines=25)
            )
        if triton.running():
            if failures and time.monotonic() - up_since > policy.stable_after_s:
                failures = 0
            continue

        failures += 1
        log.error(
            "tritonserver died (exit code %s); last log lines:\n%s",
            triton.exit_code(),
            log_excerpt(triton.process.log_since_start(), error_lines=5, tail_lines=5),
        )
        triton.clean_after_crash()
        if failures > policy.max_restarts:
            raise ServingError(
                f"tritonserver died {failures} times; giving up (SERVING_MAX_RESTARTS={policy.max_restarts})"
            )
        delay = policy.backoff(failures)
        log.warning("restarting tritonserver in %.0f s (attempt %d of %d)", delay, failures, policy.max_restarts)
        if stop.wait(delay):
            return
        triton.start()
        try:
            triton.wait_ready(ready_timeout_s, stop)
        except ServingError as exc:
            log.error("restarted tritonserver is not ready: %s", exc)
            triton.stop()
            continue
        up_since = time.monotonic()
        log.info("tritonserver is back (pid %s); every model is READY", triton.process.pid)
