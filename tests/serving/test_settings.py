"""The launcher's settings: the documented defaults, and clear refusals of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.errors import ServingError
from serving.settings import ServingSettings, shm_region_prefix


def test_defaults_are_the_documented_ones() -> None:
    settings = ServingSettings.from_env({})
    assert (
        settings.triton_host,
        settings.triton_http_port,
        settings.triton_grpc_port,
        settings.triton_metrics_port,
    ) == ("127.0.0.1", 8000, 8001, 8002)
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 8080)
    assert settings.model_repository == Path("model_repository").resolve()
    assert settings.run_dir == Path(".run").resolve()
    assert settings.triton_grpc_url == "127.0.0.1:8001"
    assert settings.watch_interval_s == 2.0


def test_a_wildcard_bind_address_is_reached_on_loopback() -> None:
    settings = ServingSettings.from_env({"TRITON_HOST": "0.0.0.0", "TRITON_GRPC_PORT": "9001"})
    assert settings.triton_grpc_url == "127.0.0.1:9001"


def test_extra_tritonserver_options_are_split_like_a_shell() -> None:
    settings = ServingSettings.from_env({"SERVING_TRITON_ARGS": "--log-verbose=1 --id='my server'"})
    assert settings.extra_triton_args == ("--log-verbose=1", "--id=my server")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRITON_HTTP_PORT", "http"),
        ("GATEWAY_PORT", "70000"),
        ("SERVING_MAX_RESTARTS", "-1"),
        ("SERVING_READY_TIMEOUT_S", "soon"),
        ("SERVING_WATCH_INTERVAL_S", "-2"),
    ],
)
def test_bad_values_are_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(ServingError, match=variable):
        ServingSettings.from_env({variable: value})


def test_each_run_directory_has_its_own_shm_prefix(tmp_path: Path) -> None:
    first, second = shm_region_prefix(tmp_path / "a"), shm_region_prefix(tmp_path / "b")
    assert first != second
    assert first.startswith("triton_python_backend_shm_region_") and second.startswith(
        "triton_python_backend_shm_region_"
    )
