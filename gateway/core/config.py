"""The gateway's one settings object, read from the environment (prefix ``GATEWAY_``).

Every limit the gateway enforces lives here, documented, so a reader finds each bound in one place.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway import defaults


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=None, extra="ignore")

    # --- where it listens -------------------------------------------------------------------
    host: str = Field(defaults.HOST, description="Address the gateway binds to.")
    port: int = Field(defaults.GATEWAY_PORT, ge=1, le=65535, description="Port the gateway listens on.")
    workers: int = Field(1, ge=1, description="Uvicorn worker processes.")

    # --- Triton ------------------------------------------------------------------------------
    triton_url: str = Field(
        f"{defaults.HOST}:{defaults.TRITON_GRPC_PORT}",
        description="Triton's gRPC target: host:port, dns:///name:port (every address of the name, re-resolved),"
        " or ipv4:a:port,b:port (a fixed list).",
    )
    triton_lb_policy: Literal["round_robin", "pick_first"] = Field(
        "round_robin", description="How calls spread over the target's addresses: each call to the next, or all to one."
    )
    triton_retries: int = Field(
        2, ge=0, le=10, description="Retries of an inference call that failed because its replica was unreachable."
    )
    triton_timeout_s: float = Field(30.0, gt=0, description="Deadline of one inference call to Triton; past it → 504.")
    triton_ready_timeout_s: float = Field(
        1.0, gt=0, description="Deadline of readiness/metadata calls; Triton down → 503 within it."
    )
    catalogue_refresh_s: float = Field(
        10.0, gt=0, description="How long a discovery of the served models (index + configs) is reused."
    )
    catalogue_min_refresh_s: float = Field(
        1.0, ge=0, description="Least time between discoveries forced by a request naming a model not in the cache."
    )
    default_family: str = Field(
        defaults.DEFAULT_FAMILY, description="Model family served when a request names no `model`."
    )

    # --- URL fetching ------------------------------------------------------------------------
    fetch_connect_timeout_s: float = Field(3.0, gt=0, description="Connect timeout for url_image.")
    fetch_read_timeout_s: float = Field(5.0, gt=0, description="Read timeout (between bytes) for url_image.")
    fetch_total_timeout_s: float = Field(10.0, gt=0, description="Whole-download deadline for url_image.")
    fetch_max_redirects: int = Field(3, ge=0, description="Redirect hops followed, each re-checked.")
    url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts or networks (CIDR) that url_image may reach even if private/loopback. Comma-separated.",
    )

    # --- uploads and decoding ----------------------------------------------------------------
    max_upload_bytes: int = Field(
        defaults.MAX_IMAGE_BYTES, gt=0, description="Largest accepted image (upload or download) in bytes → 413."
    )
    max_image_pixels: int = Field(
        defaults.MAX_IMAGE_PIXELS, gt=0, description="Largest decoded width×height → 413 (decompression bombs)."
    )
    max_batch_files: int = Field(8, ge=1, description="Most files in one batch request.")

    max_answer_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Largest answer a request may ask for (all its images, formats and results, at the size asked),"
        " computed before inference → 413 (gateway/answer_size.py).",
    )

    # --- slow and many clients ---------------------------------------------------------------
    body_timeout_s: float = Field(30.0, gt=0, description="A request body must arrive within this long → 408.")
    body_min_bytes_per_s: int = Field(
        16 * 1024, gt=0, description="…and at this average rate or more once it has taken 5 s → 408."
    )
    max_receiving: int = Field(64, ge=1, description="Request bodies being received at once; more → 503 + Retry-After.")
    max_receiving_bytes: int = Field(
        256 * 1024 * 1024, gt=0, description="Bytes of the bodies being received at once; more → 503 + Retry-After."
    )
    send_timeout_s: float = Field(
        60.0, gt=0, description="An inference answer must be sent within this long, or the connection is dropped."
    )

    # --- load and access ---------------------------------------------------------------------
    max_in_flight: int = Field(
        16,
        ge=1,
        description="Inference requests processed at once (from the end of the body to the end of the "
        "answer); more → 503 + Retry-After.",
    )
    retry_after_s: int = Field(1, ge=0, description="Retry-After value sent with overload 503s.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="If set, inference endpoints and /models need one of these keys (Bearer or X-API-Key).",
    )
    protect_metrics: bool = Field(
        False, description="With api_keys set, /metrics needs a key too (off: Prometheus scrapers have none)."
    )
    cpu_workers: int = Field(2, ge=1, description="Threads for decoding/encoding work off the event loop.")
    keep_freed_mb: int = Field(
        64,
        ge=0,
        le=2047,
        description="Freed buffers (MiB) kept mapped for the next request instead of page-faulted in anew "
        "(glibc malloc + Pillow; gateway/memory.py); 0 = the allocators' defaults.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as text or one JSON object per line; both carry the request's X-Request-ID.",
    )

    # --- stopping (SIGTERM) ------------------------------------------------------------------
    drain_settle_s: float = Field(
        5.0, ge=0, description="After SIGTERM: /ready answers 503 at once, new work is still taken for this long."
    )
    drain_timeout_s: float = Field(
        20.0, gt=0, description="After the settle time: in-flight requests get this long, then the process exits 0."
    )

    @field_validator("url_allowlist", "api_keys", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
