"""The production compose files: every compose command of the README validates with the docker-compose the
project installs, Triton stays on loopback unless opted in, and every path the Dockerfiles use exists."""

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
    return yaml.safe_load((REPO_ROOT / name).read_text())


def _docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed on CI (make system-deps installs Debian's docker-compose)")
        pytest.skip("docker-compose is not installed here (make system-deps installs Debian's docker-compose)")
    return binary


def compose_config(options: list[str], env: dict[str, str] | None = None, quiet: bool = True) -> str:
    """`docker-compose OPTIONS config [-q]` with the project's own docker-compose; fails naming its error."""
    result = subprocess.run(
        [_docker_compose(), *options, "config", *(["-q"] if quiet else [])],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"docker-compose {' '.join(options)} config: {result.stderr}"
    return result.stdout


def readme_compose_commands() -> list[str]:
    """Every `docker compose ...` / `docker-compose ...` command line the README and serving/README.md show."""
    commands = []
    for doc in (REPO_ROOT / "README.md", REPO_ROOT / "serving" / "README.md"):
        for match in re.finditer(r"docker[ -]compose[ \t]+[a-z-][^`#\n]*", doc.read_text()):
            commands.append(match.group(0).strip())
    return commands


def compose_options(command: str) -> list[str]:
    """The options that choose files and profiles (-f FILE, --profile NAME): what `config` must validate."""
    words = command.split()
    options = []
    for index, word in enumerate(words):
        if word in ("-f", "--file", "--profile") and index + 1 < len(words):
            options += [word, words[index + 1]]
    return options


def test_the_readme_shows_compose_commands_with_their_files() -> None:
    commands = readme_compose_commands()
    assert any("up" in command.split() for command in commands), commands
    assert any("docker-compose.gpu.yml" in command for command in commands), commands
    assert compose_options("docker compose -f a.yml --profile x up -d") == ["-f", "a.yml", "--profile", "x"]


@pytest.mark.parametrize("command", sorted(set(readme_compose_commands())))
def test_every_compose_command_of_the_readme_validates(command: str) -> None:
    for file in compose_options(command)[1::2]:
        assert not file.endswith(".yml") or (REPO_ROOT / file).is_file(), f"{command}: {file} does not exist"
    compose_config(compose_options(command))


def test_docker_compose_config_is_valid() -> None:
    compose_config(["-f", "docker-compose.yml"])


def _published(config_text: str, service: str) -> set[str]:
    return {str(port) for port in yaml.safe_load(config_text)["services"][service]["ports"]}


def test_triton_ports_are_published_on_loopback_unless_opted_in() -> None:
    default = _published(compose_config([], quiet=False), "triton")
    assert default == {f"127.0.0.1:{port}:{port}/tcp" for port in (8000, 8001, 8002)}, default
    opted_in = _published(compose_config([], env={"TRITON_PUBLISH_ADDRESS": "0.0.0.0"}, quiet=False), "triton")
    assert opted_in == {f"0.0.0.0:{port}:{port}/tcp" for port in (8000, 8001, 8002)}, opted_in


def test_triton_service_is_pinned_read_only_and_health_checked() -> None:
    triton = load_compose("docker-compose.yml")["services"]["triton"]
    assert triton["build"]["dockerfile"] == "docker/triton.Dockerfile"
    base = (REPO_ROOT / "docker" / "triton.Dockerfile").read_text()
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3$", base, re.M), "NVIDIA's image, pinned"
    assert "./model_repository:/models:ro" in triton["volumes"]
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])
    assert "deploy" not in triton, "the base file must start on hosts without a GPU"


def test_gpu_variant_adds_exactly_the_gpu_reservation() -> None:
    override = load_compose("docker-compose.gpu.yml")["services"]
    assert list(override) == ["triton"]
    devices = override["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_gateway_waits_for_a_healthy_triton_and_reaches_it_by_name() -> None:
    gateway = load_compose("docker-compose.yml")["services"]["gateway"]
    assert gateway["depends_on"]["triton"]["condition"] == "service_healthy"
    assert gateway["environment"]["GATEWAY_TRITON_URL"] == "triton:8001"
    assert "8080:8080" in gateway["ports"]
    assert "volumes" not in gateway, "the gateway reads nothing from the repository"


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
                assert (REPO_ROOT / module / "__main__.py").is_file(), (
                    f"{dockerfile.name}: {keyword} runs missing {module}"
                )


def test_compose_build_contexts_name_existing_dockerfiles() -> None:
    for name, service in load_compose("docker-compose.yml")["services"].items():
        if "build" in service:
            assert (REPO_ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
