"""The gateway (`python -m gateway`) as a child of the launcher, pointed at the embedded Triton."""

from __future__ import annotations

import os
import sys
import threading
import time

from serving.errors import ServingError
from serving.http_probe import status
from serving.processes import ManagedProcess, log_excerpt
from serving.settings import ServingSettings
from serving.triton_server import StopRequested


class Gateway:
    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        self.process = ManagedProcess("gateway", settings.gateway_log, settings.gateway_pid_file)

    def start(self) -> None:
        s = self.settings
        env = dict(os.environ)
        env.update(
            GATEWAY_HOST=s.gateway_host,
            GATEWAY_PORT=str(s.gateway_port),
            GATEWAY_TRITON_URL=s.triton_grpc_url,
            SERVING_RUN_DIR=str(s.run_dir),
        )
        # No load balancer stands in front of the embedded gateway: on Ctrl-C it need not keep taking work
        # while endpoints update (GATEWAY_DRAIN_SETTLE_S); in-flight requests still finish.
        env.setdefault("GATEWAY_DRAIN_SETTLE_S", "0")
        self.process.start([sys.executable, "-m", "gateway"], env)

    def wait_healthy(self, timeout_s: float, stop: threading.Event) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"{self.settings.gateway_url}/healthcheck"
        while status(url) != 200:
            code = self.process.exit_code()
            if code is not None:
                raise ServingError(
                    f"the gateway exited with code {code} during startup; from {self.settings.gateway_log}:\n"
                    + log_excerpt(self.process.log_since_start(), error_lines=0, tail_lines=25)
                )
            if time.monotonic() > deadline:
                raise ServingError(
                    f"the gateway did not answer {url} within {timeout_s:.0f} s; from {self.settings.gateway_log}:\n"
                    + log_excerpt(self.process.log_since_start(), error_lines=0, tail_lines=25)
                )
            if stop.wait(0.3):
                raise StopRequested

    def running(self) -> bool:
        return self.process.running()

    def exit_code(self) -> int | None:
        return self.process.exit_code()

    def stop(self) -> None:
        self.process.stop(grace_s=10)
