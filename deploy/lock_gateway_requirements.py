"""Write gateway/requirements.lock: gateway/requirements.txt and everything it pulls in, pinned with == to the
versions installed in this environment (the one the tests run in), for Linux / CPython 3.11 (the gateway
image's python:3.11-slim). Run from the repository root:

    .venv/bin/python deploy/lock_gateway_requirements.py > gateway/requirements.lock
"""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REQUIREMENTS = Path("gateway/requirements.txt")
# the image's platform, for the dependencies' environment markers
ENVIRONMENT = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
HEADER = """\
# Exact versions of gateway/requirements.txt and everything it pulls in (Linux, CPython 3.11: the image's
# python:3.11-slim), as installed in the environment the tests run in. docker/gateway.Dockerfile installs
# this file with --no-deps, so a rebuilt image has the same packages. Regenerate after changing
# gateway/requirements.txt:
#   .venv/bin/python deploy/lock_gateway_requirements.py > gateway/requirements.lock"""


def requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def lock(top: list[Requirement]) -> dict[str, tuple[str, set[str]]]:
    """name → (installed version, extras asked for) for ``top`` and its dependencies."""
    pins: dict[str, tuple[str, set[str]]] = {}
    todo = list(top)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        version = md.version(requirement.name)
        if not requirement.specifier.contains(version, prereleases=True):
            sys.exit(f"{requirement} is not satisfied by the installed {name} {version}")
        extras = pins[name][1] if name in pins else set()
        new_extras = set(requirement.extras) - extras
        if name in pins and not new_extras:
            continue
        pins[name] = (version, extras | new_extras)
        asked = {""} | new_extras
        for dependency in md.requires(requirement.name) or []:
            parsed = Requirement(dependency)
            if parsed.marker is None or any(parsed.marker.evaluate({**ENVIRONMENT, "extra": e}) for e in asked):
                todo.append(parsed)
    return pins


def main() -> None:
    print(HEADER)
    for name, (version, extras) in sorted(lock(requirements(REQUIREMENTS)).items()):
        extra = f"[{','.join(sorted(extras))}]" if extras else ""
        print(f"{name}{extra}=={version}")


if __name__ == "__main__":
    main()
