"""The launcher's settings, read once from the environment (names and defaults: docs/architecture.md)."""
from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.errors import ServingError

SHM_REGION_PREFIX = "triton_python_backend_shm_region_"


@dataclass(frozen=True)
class PortSetting:
    """A port with the variable that sets it, so errors can tell the user what to change."""

    variable: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ServingSettings:
    model_repository: Path
    run_dir: Path
    triton_host: str
    triton_http_port: int
    triton_grpc_port: int
    triton_metrics_port: int
    gateway_host: str
    gateway_port: int
    ready_timeout_s: float
    max_restarts: int
    watch_interval_s: float = 2.0
    extra_triton_args: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> "ServingSettings":
        env = os.environ if environ is None else environ
        return cls(
            model_repository=Path(env.get("MODEL_REPOSITORY", "model_repository")).resolve(),
            run_dir=Path(env.get("SERVING_RUN_DIR", ".run")).resolve(),
            triton_host=env.get("TRITON_HOST", "127.0.0.1"),
            triton_http_port=_port(env, "TRITON_HTTP_PORT", 8000),
            triton_grpc_port=_port(env, "TRITON_GRPC_PORT", 8001),
            triton_metrics_port=_port(env, "TRITON_METRICS_PORT", 8002),
            gateway_host=env.get("GATEWAY_HOST", "127.0.0.1"),
            gateway_port=_port(env, "GATEWAY_PORT", 8080),
            # Loading the torch model on 2 busy cores can take a minute; a hung load must not wait forever.
            ready_timeout_s=_number(env, "SERVING_READY_TIMEOUT_S", 300.0, float),
            max_restarts=_number(env, "SERVING_MAX_RESTARTS", 5, int),
            # How often the native repository is scanned for exported / removed models (0: never).
            watch_interval_s=_number(env, "SERVING_WATCH_INTERVAL_S", 2.0, float),
            extra_triton_args=tuple(shlex.split(env.get("SERVING_TRITON_ARGS", ""))),
        )

    @property
    def client_host(self) -> str:
        """Where local clients reach Triton: a wildcard bind address is not a destination."""
        return "127.0.0.1" if self.triton_host in ("0.0.0.0", "::", "") else self.triton_host

    @property
    def triton_http_url(self) -> str:
        return f"http://{self.client_host}:{self.triton_http_port}"

    @property
    def triton_grpc_url(self) -> str:
        return f"{self.client_host}:{self.triton_grpc_port}"

    @property
    def gateway_url(self) -> str:
        host = "127.0.0.1" if self.gateway_host in ("0.0.0.0", "::", "") else self.gateway_host
        return f"http://{host}:{self.gateway_port}"

    def triton_ports(self) -> list[PortSetting]:
        return [
            PortSetting("TRITON_HTTP_PORT", self.triton_host, self.triton_http_port),
            PortSetting("TRITON_GRPC_PORT", self.triton_host, self.triton_grpc_port),
            PortSetting("TRITON_METRICS_PORT", self.triton_host, self.triton_metrics_port),
        ]

    def gateway_ports(self) -> list[PortSetting]:
        return [PortSetting("GATEWAY_PORT", self.gateway_host, self.gateway_port)]

    @property
    def twin_repository(self) -> Path:
        return self.run_dir / "twin_repository"

    @property
    def triton_log(self) -> Path:
        return self.run_dir / "tritonserver.log"

    @property
    def gateway_log(self) -> Path:
        return self.run_dir / "gateway.log"

    @property
    def triton_pid_file(self) -> Path:
        return self.run_dir / "tritonserver.pid"

    @property
    def gateway_pid_file(self) -> Path:
        return self.run_dir / "gateway.pid"

    @property
    def shm_region_prefix(self) -> str:
        return shm_region_prefix(self.run_dir)


def shm_region_prefix(run_dir: Path) -> str:
    """The Python backend's shm prefix for the server of one run directory.

    Unique per run directory, so the launcher (and the tests) can find and remove exactly this server's
    regions in /dev/shm without touching those of other Triton servers on the machine.
    """
    digest = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:10]
    return f"{SHM_REGION_PREFIX}{digest}_"


def _port(env: os._Environ[str] | dict[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise ServingError(f"{variable}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ServingError(f"{variable}={port} is outside 1-65535")
    return port


def _number(env: os._Environ[str] | dict[str, str], variable: str, default: float, kind: type) -> Any:
    raw = env.get(variable, str(default))
    try:
        value = kind(raw)
    except ValueError:
        raise ServingError(f"{variable}={raw!r} is not a{'n integer' if kind is int else ' number'}") from None
    if value < 0:
        raise ServingError(f"{variable}={raw!r} must not be negative")
    return value
