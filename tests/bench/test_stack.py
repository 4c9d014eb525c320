"""bench.stack.running_stack: with no stack at the addresses it starts `python -m serving` (through the same
serving.child.LauncherProcess the tests use), waits until the gateway and every model answer, and stops it
again, leaving nothing listening; a stack that already runs is used as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.stack import Endpoints, running_stack, stack_ready
from tests.serving.test_lifecycle import single_model_repository
from tests.support.ports import free_ports

pytestmark = pytest.mark.timeout(600)


def test_starts_a_stack_when_none_runs_and_stops_it_after(exported_repository: Path, tmp_path: Path) -> None:
    http, grpc, metrics, gateway = free_ports(4)
    endpoints = Endpoints(f"http://127.0.0.1:{gateway}", f"127.0.0.1:{grpc}")
    env = {
        "TRITON_HTTP_PORT": str(http),
        "TRITON_GRPC_PORT": str(grpc),
        "TRITON_METRICS_PORT": str(metrics),
        "GATEWAY_PORT": str(gateway),
        "TRITON_HOST": "127.0.0.1",
        "GATEWAY_HOST": "127.0.0.1",
        "MODEL_REPOSITORY": str(single_model_repository(exported_repository, tmp_path / "repo")),
        "SERVING_RUN_DIR": str(tmp_path / "run"),
    }
    assert not stack_ready(endpoints)
    with running_stack(endpoints, tmp_path / "launcher.log", start_timeout_s=300, env=env) as started:
        assert started is True
        assert stack_ready(endpoints)
        with running_stack(endpoints, tmp_path / "unused.log", start_timeout_s=5, env=env) as started_again:
            assert started_again is False  # the running stack is used, not a second one
    assert not stack_ready(endpoints)
    assert "stopped" in (tmp_path / "launcher.log").read_text()
