"""Models exported or removed while the stack serves are loaded / unloaded without a restart.

A stack of its own on a private repository (the session stack's models must stay as they are): a real
`python -m export` writes a new family into the served repository (staged temp files, renamed at the end,
so the watcher sees a half-written export on the way), the gateway answers for it within 30 s of the
export's end, a new version folder replaces the served version, and once the family's folders are removed
it leaves /models and Triton within 30 s; only a deliberate crash in between restarts tritonserver (which then
serves the family too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.test_lifecycle import single_model_repository
from tests.support.paths import REPO_ROOT, shared_image
from tests.support.stack import EmbeddedStack

pytestmark = pytest.mark.timeout(900)

NEW_FAMILY = "hotfam"
PICKUP_LIMIT_S = 30.0
EXPORT_TIMEOUT_S = 600
RESTART_LIMIT_S = 180


@pytest.fixture
def own_stack(exported_repository: Path, tmp_path: Path) -> Iterator[EmbeddedStack]:
    stack = EmbeddedStack(single_model_repository(exported_repository, tmp_path / "repo"), tmp_path / "run")
    stack.start()
    try:
        stack.wait_ready()
        yield stack
        assert stack.stop() == 0, stack.logs()
        assert stack.leftover_processes() == []
        assert stack.leftover_shm_regions() == []
    finally:
        stack.stop()
        stack.force_cleanup()


def served_families(stack: EmbeddedStack) -> dict[str, dict]:
    response = httpx.get(f"{stack.gateway_url}/models", timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    return response.json()["models"]


def wait_for(condition: Callable[[], bool], limit_s: float, what: str, stack: EmbeddedStack) -> float:
    """Seconds until `condition()` held; fails after `limit_s` with the stack's logs."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit_s:
            pytest.fail(f"{what} not within {limit_s:.0f} s\n{stack.logs()}")
        time.sleep(0.5)
    return time.monotonic() - started


def model_ready(stack: EmbeddedStack, model: str, version: int | None = None) -> bool:
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready"
    return httpx.get(stack.triton_http_url + path, timeout=10, trust_env=False).status_code == 200


def segment(stack: EmbeddedStack, family: str, runtime: str) -> httpx.Response:
    with shared_image("dog2.jpg").open("rb") as photo:
        return httpx.post(
            f"{stack.gateway_url}/infer/file",
            files={"file": ("dog2.jpg", photo, "image/jpeg")},
            data={"infer_model_type": runtime, "model": family, "response_format": "summary"},
            timeout=120,
            trust_env=False,
        )


def test_exported_family_served_new_version_reloaded_removed_family_unloaded_without_restart(
    own_stack: EmbeddedStack,
) -> None:
    stack = own_stack
    assert stack.process is not None
    launcher_pid, triton_pid = stack.process.pid, stack.triton_pid()
    assert NEW_FAMILY not in served_families(stack)

    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "export",
            "--weights",
            "random",
            "--skip-parity",
            "--name",
            NEW_FAMILY,
            "--repository",
            str(stack.repository),
        ],
        cwd=REPO_ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="2"),
        capture_output=True,
        text=True,
        timeout=EXPORT_TIMEOUT_S,
    )
    assert export.returncode == 0, export.stdout + export.stderr

    waited = wait_for(
        lambda: set(served_families(stack).get(NEW_FAMILY, {}).get("backends", {})) == {"onnx", "torch"},
        PICKUP_LIMIT_S,
        f"family '{NEW_FAMILY}' (onnx and torch) on /models",
        stack,
    )
    print(f"new family on /models {waited:.1f} s after the export finished")
    for runtime in ("onnx", "torch"):
        answer = segment(stack, NEW_FAMILY, runtime)
        assert answer.status_code == 200, answer.text
        model = answer.json()["model"]
        assert (model["family"], model["backend"]) == (NEW_FAMILY, runtime)
        assert model["name"].startswith(f"{NEW_FAMILY}_")
    assert (stack.process.pid, stack.triton_pid()) == (launcher_pid, triton_pid), "nothing may be restarted"

    # A new version of a served model: Triton's default policy (latest 1) serves it instead of version 1.
    shutil.copytree(stack.repository / f"{NEW_FAMILY}_onnx" / "1", stack.repository / f"{NEW_FAMILY}_onnx" / "2")
    waited = wait_for(
        lambda: (
            model_ready(stack, f"{NEW_FAMILY}_onnx", version=2)
            and not model_ready(stack, f"{NEW_FAMILY}_onnx", version=1)
        ),
        PICKUP_LIMIT_S,
        f"version 2 of {NEW_FAMILY}_onnx replacing version 1",
        stack,
    )
    print(f"new version served {waited:.1f} s after its folder was written")
    assert segment(stack, NEW_FAMILY, "onnx").status_code == 200

    # A crash now: the restarted server serves what the repository holds, the new family included.
    stack.kill_triton()
    wait_for(
        lambda: "tritonserver is back" in stack.launcher_log.read_text(errors="replace"),
        RESTART_LIMIT_S,
        "tritonserver restarted",
        stack,
    )
    assert model_ready(stack, f"{NEW_FAMILY}_onnx", version=2) and model_ready(stack, f"{NEW_FAMILY}_torchscript")
    wait_for(
        lambda: segment(stack, NEW_FAMILY, "torch").status_code == 200,
        PICKUP_LIMIT_S,
        "the gateway answering for the new family after the restart",
        stack,
    )
    triton_pid = stack.triton_pid()

    for folder in stack.repository.glob(f"{NEW_FAMILY}_*"):
        shutil.rmtree(folder)
    waited = wait_for(
        lambda: NEW_FAMILY not in served_families(stack),
        PICKUP_LIMIT_S,
        f"family '{NEW_FAMILY}' gone from /models",
        stack,
    )
    print(f"removed family gone from /models after {waited:.1f} s")
    for model in (f"{NEW_FAMILY}_onnx", f"{NEW_FAMILY}_torchscript"):
        assert not model_ready(stack, model), f"{model} is still loaded on Triton"
    gone = segment(stack, NEW_FAMILY, "onnx")
    assert gone.status_code == 400 and f"unknown model '{NEW_FAMILY}'" in gone.text, gone.text
    assert segment(stack, "deeplabv3", "onnx").status_code == 200, "the other model must keep serving"
    assert (stack.process.pid, stack.triton_pid()) == (launcher_pid, triton_pid), "nothing may be restarted"


def test_a_model_triton_cannot_load_leaves_the_service_ready(own_stack: EmbeddedStack) -> None:
    stack = own_stack
    broken = stack.repository / "broken_onnx"
    shutil.copytree(stack.repository / "deeplabv3_onnx", broken.with_suffix(".tmp"))
    config = broken.with_suffix(".tmp") / "config.pbtxt"
    config.write_text(
        config.read_text().replace('"deeplabv3_onnx"', '"broken_onnx"').replace('"deeplabv3"', '"broken"')
    )
    onnx = broken.with_suffix(".tmp") / "1" / "model.onnx"
    onnx.unlink()
    onnx.write_bytes(b"not an onnx model")
    broken.with_suffix(".tmp").rename(broken)  # appears complete at once, like a finished (bad) export

    log = stack.launcher_log
    wait_for(
        lambda: "model 'broken_onnx' is not served" in log.read_text(errors="replace"),
        PICKUP_LIMIT_S,
        "the launcher giving up on the broken model",
        stack,
    )
    assert "Triton refused to load model 'broken_onnx'" in log.read_text(errors="replace")
    ready = httpx.get(f"{stack.gateway_url}/ready", timeout=10, trust_env=False)
    assert ready.status_code == 200, ready.text
    assert "broken_onnx" not in ready.json()["models"]
    assert "broken" not in served_families(stack)
    assert segment(stack, "deeplabv3", "onnx").status_code == 200
