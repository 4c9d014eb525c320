"""gateway/requirements.lock pins gateway/requirements.txt and its dependencies as tested, and the image uses it."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import REPO_ROOT

LOCK = REPO_ROOT / "gateway" / "requirements.lock"
REQUIREMENTS = REPO_ROOT / "gateway" / "requirements.txt"
PIN = re.compile(r"([a-z0-9-]+)(\[[a-z0-9,-]+\])?==([^\s=]+)")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_gateway", REPO_ROOT / "deploy" / "lock_gateway_requirements.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, tuple[str, set[str]]]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        match = PIN.fullmatch(line)
        assert match, f"not an exact pin: {line!r}"
        extras = set(match[2][1:-1].split(",")) if match[2] else set()
        pins[match[1]] = (match[3], extras)
    return pins


def test_every_requirement_is_pinned_to_a_version_it_accepts() -> None:
    pins = _pins()
    for requirement in _generator().requirements(REQUIREMENTS):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in the lock"
        version, extras = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} vs =={version}"
        assert set(requirement.extras) <= extras, f"{requirement}: extras {extras}"


def test_the_lock_is_what_the_tested_environment_has() -> None:
    """Regenerate (the lock's header says how) when gateway/requirements.txt or the environment changes."""
    generator = _generator()
    assert _pins() == generator.lock(generator.requirements(REQUIREMENTS))


def test_the_gateway_image_installs_the_lock_and_nothing_else() -> None:
    dockerfile = (REPO_ROOT / "docker" / "gateway.Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs == ["RUN pip install --no-deps -r /app/gateway/requirements.lock && pip check"], installs
    assert "COPY gateway/requirements.lock /app/gateway/requirements.lock" in dockerfile


def test_a_range_is_not_a_pin() -> None:
    assert not PIN.fullmatch("fastapi>=0.115")
    assert Requirement("numpy<2").specifier.contains("1.26.4")
