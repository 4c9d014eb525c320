"""A gateway of its own: `python -m gateway` as a separate process on a free port, in front of a Triton target.

For tests that need a gateway configured unlike the session stack's (other keys or limits, JSON logs, several
Triton replicas). Only GATEWAY_* variables given here reach it; started and stopped from the outside.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.paths import REPO_ROOT
from tests.support.ports import free_ports

START_TIMEOUT_S = 90


@dataclass
class GatewayProcess:
    """`python -m gateway` on a free port, in front of ``target``."""

    target: str
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/ready"  # answers 200 once started ("/healthcheck" when Triton may not be ready)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
        env.update(
            GATEWAY_HOST="127.0.0.1",
            GATEWAY_PORT=str(self.port),
            GATEWAY_TRITON_URL=self.target,
            GATEWAY_LOG_LEVEL="info",
            **self.env,
        )
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_for(self.ready_path, 200, START_TIMEOUT_S)

    def wait_for(self, path: str, status: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None and self.process.poll() is None, f"the gateway exited\n{self.log()}"
            try:
                if httpx.get(self.url + path, timeout=5, trust_env=False).status_code == status:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{path} did not answer {status} within {timeout_s} s\n{self.log()}"
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        """The end of the log, for failure messages."""
        return self.log_text()[-6000:] or "(no log)"

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.is_file() else ""

    def metric(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Samples of a metric in /metrics, by their sorted labels."""
        text = httpx.get(f"{self.url}/metrics", timeout=10, trust_env=False).text
        samples = {}
        for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.MULTILINE):
            samples[tuple(sorted(re.findall(r'(\w+)="([^"]*)"', labels)))] = float(value)
        return samples

    def replica_calls(self, outcome: str) -> dict[str, float]:
        """gateway_triton_requests_total by target, for one outcome."""
        found = {}
        for labels, value in self.metric("gateway_triton_requests_total").items():
            as_dict = dict(labels)
            if as_dict["outcome"] == outcome:
                found[as_dict["target"]] = value
        return found
