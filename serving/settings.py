"""The launcher's settings, read once from the environment (names and defaults: docs/architecture.md)."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway import defaults
from serving.errors import ServingError

SHM_REGION_PREFIX = "triton_python_backend_shm_region_"


@dataclass(frozen=True)
class PortSetting:
    """A port with the variable that sets it, so errors can tell the user what to change."""

    variable: str
    host: str
    port: int


def _port(variable: str, default: int) -> int:
    return Field(default, ge=1, le=65535, validation_alias=variable)


class ServingSettings(BaseSettings):
    """The launcher's variables have no common prefix: each field is read from the variable it names."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    model_repository: Path = Field(Path(defaults.MODEL_REPOSITORY), validation_alias="MODEL_REPOSITORY")
    run_dir: Path = Field(Path(defaults.RUN_DIR), validation_alias="SERVING_RUN_DIR")
    triton_host: str = Field(defaults.HOST, validation_alias="TRITON_HOST")
    triton_http_port: int = _port("TRITON_HTTP_PORT", defaults.TRITON_HTTP_PORT)
    triton_grpc_port: int = _port("TRITON_GRPC_PORT", defaults.TRITON_GRPC_PORT)
    triton_metrics_port: int = _port("TRITON_METRICS_PORT", defaults.TRITON_METRICS_PORT)
    gateway_host: str = Field(defaults.HOST, validation_alias="GATEWAY_HOST")
    gateway_port: int = _port("GATEWAY_PORT", defaults.GATEWAY_PORT)
    # Loading the torch model on 2 busy cores can take a minute; a hung load must not wait forever.
    ready_timeout_s: float = Field(300.0, ge=0, validation_alias="SERVING_READY_TIMEOUT_S")
    max_restarts: int = Field(5, ge=0, validation_alias="SERVING_MAX_RESTARTS")
    # How often the native repository is scanned for exported / removed models (0: never).
    watch_interval_s: float = Field(2.0, ge=0, validation_alias="SERVING_WATCH_INTERVAL_S")
    # Inference request/response objects Triton's gRPC frontend keeps for reuse (its default is 8). Each keeps the
    # capacity of the largest answer it held: 8 batches of probabilities (176 MB each) kept tritonserver at 2-2.4 GB
    # after a burst, against 0.65-1 GB with 1 (docs/performance.md, "Memory after large answers").
    grpc_allocation_pool: int = Field(1, ge=0, validation_alias="TRITON_GRPC_ALLOCATION_POOL_SIZE")
    # More tritonserver options, split like a shell would.
    extra_triton_args: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="SERVING_TRITON_ARGS")

    @field_validator("model_repository", "run_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @field_validator("extra_triton_args", mode="before")
    @classmethod
    def _shell_words(cls, value: object) -> object:
        return tuple(shlex.split(value)) if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """The settings from the process environment, or from ``environ`` alone when given (tests).

        A bad value raises ServingError naming the variable, e.g. ``TRITON_HTTP_PORT='http': ...``.
        """
        try:
            return cls() if environ is None else cls.model_validate(dict(environ))
        except ValidationError as exc:
            raise ServingError("; ".join(_describe(error) for error in exc.errors())) from None

    @property
    def client_host(self) -> str:
        """Where local clients reach Triton: a wildcard bind address is not a destination."""
        return defaults.reachable_host(self.triton_host)

    @property
    def triton_http_url(self) -> str:
        return f"http://{self.client_host}:{self.triton_http_port}"

    @property
    def triton_grpc_url(self) -> str:
        return f"{self.client_host}:{self.triton_grpc_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{defaults.reachable_host(self.gateway_host)}:{self.gateway_port}"

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


def _describe(error: ErrorDetails) -> str:
    """One validation error as ``VARIABLE='value': what is wrong``."""
    variable = str(error["loc"][0]) if error.get("loc") else "settings"
    return f"{variable}={error.get('input')!r}: {error['msg']}"
