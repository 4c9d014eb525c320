"""The stack under test: its addresses, whether it is up, and starting/stopping one when it is not.

Addresses come from the environment variables of docs/architecture.md, so ``make bench`` finds the
stack that ``make serve`` started with the same environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import tritonclient.grpc as grpcclient

from serving.child import LauncherProcess
from serving.settings import ServingSettings


@dataclass(frozen=True)
class Endpoints:
    gateway_url: str  # http://host:port
    triton_grpc_url: str  # host:port

    @classmethod
    def from_env(cls) -> Endpoints:
        """Where `make serve` (the launcher, from the same environment) puts the gateway and Triton."""
        settings = ServingSettings.from_env()
        return cls(settings.gateway_url, settings.triton_grpc_url)

    @property
    def gateway_port(self) -> int:
        return httpx.URL(self.gateway_url).port or 80

    @property
    def triton_grpc_port(self) -> int:
        return int(self.triton_grpc_url.rsplit(":", 1)[1])


class StackUnavailable(RuntimeError):
    pass


def gateway_live(endpoints: Endpoints) -> bool:
    try:
        return httpx.get(f"{endpoints.gateway_url}/healthcheck", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def triton_models_ready(endpoints: Endpoints) -> bool:
    """True when Triton answers and every model in its repository index is READY."""
    try:
        client = grpcclient.InferenceServerClient(endpoints.triton_grpc_url)
        if not client.is_server_live(client_timeout=2.0):
            return False
        index = client.get_model_repository_index(as_json=True, client_timeout=2.0).get("models", [])
        return bool(index) and all(model.get("state") == "READY" for model in index)
    except Exception:  # noqa: BLE001 - any failure to answer means "not ready yet"
        return False


def stack_ready(endpoints: Endpoints) -> bool:
    return gateway_live(endpoints) and triton_models_ready(endpoints)


@contextmanager
def running_stack(
    endpoints: Endpoints, log_path: Path, start_timeout_s: float, env: dict[str, str] | None = None
) -> Iterator[bool]:
    """Use the stack at ``endpoints`` if it is up; else start ``python -m serving`` and stop it after.

    ``env`` is added to this process's environment for the started stack (ports, repository, knobs):
    it must put the stack at ``endpoints``. Yields True when this harness started the stack itself.
    """
    if stack_ready(endpoints):
        yield False
        return
    if gateway_live(endpoints) or triton_models_ready(endpoints):
        raise StackUnavailable(
            f"only part of a stack answers at {endpoints}: start both with `make serve` (or stop the part that runs)"
        )
    log_path.unlink(missing_ok=True)
    # Its own session, so that a forced stop reaches the launcher and everything it started.
    launcher = LauncherProcess({**os.environ, **(env or {})}, log_path, own_session=True)
    launcher.start()
    try:
        _wait_until_ready(launcher, endpoints, log_path, start_timeout_s)
        yield True
    finally:
        try:
            launcher.stop()  # SIGTERM: the launcher's clean stop of Triton, stubs and gateway
        except subprocess.TimeoutExpired:
            launcher.kill()


def _wait_until_ready(launcher: LauncherProcess, endpoints: Endpoints, log_path: Path, timeout_s: float) -> None:
    print(
        f"bench: no stack at {endpoints.gateway_url}; starting `python -m serving` (log: {log_path})", file=sys.stderr
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := launcher.exit_code()) is not None:
            raise StackUnavailable(f"`python -m serving` exited with {code}:\n{_tail(log_path)}")
        if stack_ready(endpoints):
            return
        time.sleep(1.0)
    raise StackUnavailable(f"the stack was not ready within {timeout_s:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
