"""The launcher's lifecycle against the real server: clean stops, clear refusals, recovery from a crash."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.exported_repository import DEFAULT_FAMILY
from tests.support.paths import REPO_ROOT, shared_image
from tests.support.stack import EmbeddedStack

pytestmark = pytest.mark.timeout(600)

ONNX_MODEL = f"{DEFAULT_FAMILY}_onnx"


def single_model_repository(exported_repository: Path, target: Path) -> Path:
    """A repository with one small model, for stacks of their own (the ONNX stub loads fastest)."""
    target.mkdir()
    shutil.copytree(exported_repository / ONNX_MODEL, target / ONNX_MODEL, symlinks=True)
    return target


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stop_signal_leaves_no_process_and_no_shm_region(
    exported_repository: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    stack = EmbeddedStack(single_model_repository(exported_repository, tmp_path / "repo"), tmp_path / "run")
    stack.start()
    try:
        stack.wait_ready()
        assert stack.leftover_shm_regions(), "the Python backend should hold a region while serving"
        assert len(stack.leftover_processes()) >= 3, "launcher, tritonserver, stub and gateway should be running"

        stack.send(sig)
        assert stack.wait_exit() == 0, stack.logs()
        assert stack.leftover_processes() == []
        assert stack.leftover_shm_regions() == []
        assert not (stack.run_dir / "tritonserver.pid").exists()
    finally:
        stack.stop()
        stack.force_cleanup()


def launch_and_fail(env_changes: dict[str, str], stack: EmbeddedStack) -> subprocess.CompletedProcess[str]:
    env = stack.environment() | env_changes
    return subprocess.run(
        [sys.executable, "-m", "serving", "--skip-export"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("variable", ["TRITON_HTTP_PORT", "TRITON_GRPC_PORT", "GATEWAY_PORT"])
def test_a_taken_port_is_named_with_its_variable(exported_repository: Path, tmp_path: Path, variable: str) -> None:
    stack = EmbeddedStack(single_model_repository(exported_repository, tmp_path / "repo"), tmp_path / "run")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = launch_and_fail({variable: str(port)}, stack)
    assert result.returncode != 0
    assert f"port {port}" in result.stderr and variable in result.stderr, result.stderr
    assert stack.leftover_processes() == []


def test_a_model_that_fails_to_load_is_named_with_tritons_reason(exported_repository: Path, tmp_path: Path) -> None:
    repository = single_model_repository(exported_repository, tmp_path / "repo")
    broken = repository / "broken_onnx"
    shutil.copytree(repository / ONNX_MODEL, broken)
    config = broken / "config.pbtxt"
    config.write_text(config.read_text().replace(f'name: "{ONNX_MODEL}"', 'name: "broken_onnx"'))
    (broken / "1" / "model.onnx").unlink()
    (broken / "1" / "model.onnx").write_bytes(b"this is not an ONNX file")
    stack = EmbeddedStack(repository, tmp_path / "run", gateway=False)

    result = launch_and_fail({}, stack)

    assert result.returncode == 1
    assert "model 'broken_onnx' failed to load" in result.stderr, result.stderr
    assert "onnx" in result.stderr.split("model 'broken_onnx' failed to load", 1)[1].lower()  # Triton's reason
    assert ONNX_MODEL + "' failed" not in result.stderr
    assert stack.leftover_processes() == []
    assert stack.leftover_shm_regions() == []


def test_killed_tritonserver_is_restarted_and_the_gateway_recovers(stack: EmbeddedStack) -> None:
    killed = stack.kill_triton()

    stack.wait_ready(timeout=300)

    assert stack.triton_pid() != killed
    assert "tritonserver died" in stack.launcher_log.read_text()
    # A client (or a load balancer) sends once the gateway says ready: its /ready asks Triton over gRPC.
    ready_deadline = time.monotonic() + 60
    while httpx.get(f"{stack.gateway_url}/ready", timeout=5, trust_env=False).status_code != 200:
        assert time.monotonic() < ready_deadline, "the gateway did not become ready after Triton's restart"
        time.sleep(0.5)
    photo = shared_image("dog2.jpg")
    with photo.open("rb") as image:
        response = httpx.post(
            f"{stack.gateway_url}/infer/file",
            files={"file": (photo.name, image, "image/jpeg")},
            data={"infer_model_type": "torch"},
            timeout=120,
            trust_env=False,
        )
    assert response.status_code == 200, response.text[:500]


def test_tritonserver_failing_to_start_is_reported_with_its_log_lines(
    exported_repository: Path, tmp_path: Path
) -> None:
    stack = EmbeddedStack(
        single_model_repository(exported_repository, tmp_path / "repo"), tmp_path / "run", gateway=False
    )

    result = launch_and_fail({"SERVING_TRITON_ARGS": "--no-such-option"}, stack)

    assert result.returncode == 1
    assert "tritonserver exited with code 1 during startup" in result.stderr, result.stderr
    assert "unrecognized option '--no-such-option'" in result.stderr
    assert "Usage:" not in result.stderr  # the reason, not the whole help text
    assert stack.leftover_processes() == []


def test_restarts_are_bounded(exported_repository: Path, tmp_path: Path) -> None:
    stack = EmbeddedStack(
        single_model_repository(exported_repository, tmp_path / "repo"),
        tmp_path / "run",
        gateway=False,
        extra_env={"SERVING_MAX_RESTARTS": "0"},
    )
    stack.start()
    try:
        stack.wait_ready()
        stack.kill_triton()
        assert stack.wait_exit() == 1
        log = stack.launcher_log.read_text()
        assert "tritonserver died" in log and "giving up (SERVING_MAX_RESTARTS=0)" in log
        assert stack.leftover_processes() == [] and stack.leftover_shm_regions() == []
    finally:
        stack.stop()
        stack.force_cleanup()


def test_a_dead_gateway_stops_the_stack_loudly(exported_repository: Path, tmp_path: Path) -> None:
    stack = EmbeddedStack(single_model_repository(exported_repository, tmp_path / "repo"), tmp_path / "run")
    stack.start()
    try:
        stack.wait_ready()
        os.kill(int((stack.run_dir / "gateway.pid").read_text()), signal.SIGKILL)
        assert stack.wait_exit() == 1
        assert "the gateway exited with code -9" in stack.launcher_log.read_text()
        assert stack.leftover_processes() == [] and stack.leftover_shm_regions() == []
    finally:
        stack.stop()
        stack.force_cleanup()
