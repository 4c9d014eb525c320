"""The production compose files: valid for docker-compose, and every path the Dockerfiles use exists."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))


def load_compose(name: str) -> dict:
    class ComposeLoader(yaml.SafeLoader):
        """Knows Compose v2's `!reset` tag (the CPU override uses it)."""

    ComposeLoader.add_constructor("!reset", lambda loader, node: ("!reset", loader.construct_sequence(node)
                                                                  if isinstance(node, yaml.SequenceNode) else None))
    return yaml.load((REPO_ROOT / name).read_text(), Loader=ComposeLoader)


def test_docker_compose_config_is_valid() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed on CI (apt-get install docker-compose)")
        pytest.skip("docker-compose is not installed here (apt-get install --no-install-recommends docker-compose)")
    result = subprocess.run([binary, "-f", "docker-compose.yml", "config", "-q"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_triton_service_is_pinned_read_only_gpu_and_health_checked() -> None:
    triton = load_compose("docker-compose.yml")["services"]["triton"]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", triton["image"]), triton["image"]
    assert "./model_repository:/models:ro" in triton["volumes"]
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in devices)
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])
    assert {"8000:8000", "8001:8001", "8002:8002"} <= set(triton["ports"])


def test_gateway_waits_for_a_healthy_triton_and_reaches_it_by_name() -> None:
    gateway = load_compose("docker-compose.yml")["services"]["gateway"]
    assert gateway["depends_on"]["triton"]["condition"] == "service_healthy"
    assert gateway["environment"]["GATEWAY_TRITON_URL"] == "triton:8001"
    assert "8080:8080" in gateway["ports"]


def test_cpu_variant_removes_exactly_the_gpu_reservation() -> None:
    override = load_compose("docker-compose.cpu.yml")["services"]
    assert list(override) == ["triton"]
    assert override["triton"]["deploy"]["resources"]["reservations"]["devices"] == ("!reset", [])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_paths_exist_in_the_repository(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile.read_text())
    copies = [args for keyword, args in instructions if keyword == "COPY"]
    assert copies, "a Dockerfile of this project copies its code in"
    for args in copies:
        *sources, _target = [part for part in args.split() if not part.startswith("--")]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{dockerfile.name}: COPY source {source} is not in the repository"
    for keyword, args in instructions:
        if keyword in ("CMD", "ENTRYPOINT"):
            argv = json.loads(args)  # exec form: the only form this project uses (signals reach the process)
            if "-m" in argv:
                module = argv[argv.index("-m") + 1]
                assert (REPO_ROOT / module / "__main__.py").is_file(), f"{dockerfile.name}: {keyword} runs missing {module}"


def test_compose_build_contexts_name_existing_dockerfiles() -> None:
    for name, service in load_compose("docker-compose.yml")["services"].items():
        if "build" in service:
            assert (REPO_ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
