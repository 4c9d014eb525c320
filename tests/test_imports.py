"""Import structure: no import cycles among the project's own modules, and a gateway that runs from its image alone.

Read from the source with ``ast`` (nothing is imported), so a cycle hidden behind a lazy import or
``TYPE_CHECKING`` counts too: each one is a sign that a type or a helper lives in the wrong module.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

PACKAGES = ("gateway", "client", "serving", "export", "bench")
FIRST_PARTY = ("gateway", "client", "serving", "export", "bench")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(package: str) -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((REPO_ROOT / package).rglob("*.py"))}


ALL_MODULES = {name: path for package in FIRST_PARTY for name, path in _sources(package).items()}


def _imports(name: str, path: Path) -> set[str]:
    """The first-party modules ``name`` imports (a ``from package import name`` of a module counts as that module)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in ALL_MODULES else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in FIRST_PARTY:
                found.add(target)
    return found - {name}


def _graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = {name: path for package in packages for name, path in _sources(package).items()}
    return {name: {target for target in _imports(name, path) if target in modules} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_gateway_client_and_serving() -> None:
    assert _cycles(_graph(PACKAGES)) == []


def _copied_paths() -> list[str]:
    dockerfile = (REPO_ROOT / "docker" / "gateway.Dockerfile").read_text()
    return [match.group(1).rstrip("/") for match in re.finditer(r"^COPY\s+(\S+)\s+\S+\s*$", dockerfile, re.M)]


@pytest.mark.parametrize("name", sorted(_sources("gateway")))
def test_the_gateway_image_has_every_module_the_gateway_imports(name: str) -> None:
    copied = _copied_paths()
    assert "gateway" in copied
    for target in _imports(name, ALL_MODULES[name]):
        source = ALL_MODULES.get(target) or ALL_MODULES.get(target.rpartition(".")[0])
        assert source is not None, f"{name} imports {target}, which is not in the repository"
        relative = source.relative_to(REPO_ROOT).as_posix()
        assert any(relative == path or relative.startswith(f"{path}/") for path in copied), (
            f"{name} imports {target} ({relative}), which docker/gateway.Dockerfile does not copy"
        )


@pytest.mark.parametrize("name", sorted(_sources("gateway")))
def test_the_gateway_imports_no_torch(name: str) -> None:
    tree = ast.parse(ALL_MODULES[name].read_text())
    roots = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    roots |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not roots & {"torch", "torchvision", "onnx", "onnxruntime"}, f"{name} imports a model runtime"


# What the clients (client/) may never pull in, directly or through a module they import: the gateway's
# configuration (its Settings read GATEWAY_* variables) and its server (FastAPI app, routes, inference).
CLIENT_FORBIDDEN = ("gateway.core", "gateway.api", "gateway.main", "gateway.server", "gateway.inference")


def _reached(name: str, around: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every first-party module importing ``name`` loads (the packages above each one too) → who imports it.

    Modules in ``around`` are not entered (nor reported).
    """
    reached: dict[str, str] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        for target in sorted(_imports(current, ALL_MODULES[current])):
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                module = ".".join(parts[:depth])
                if module in ALL_MODULES and module not in reached and module != name and module not in around:
                    reached[module] = current
                    todo.append(module)
    return reached


def _forbidden(module: str) -> bool:
    return any(module == root or module.startswith(f"{root}.") for root in CLIENT_FORBIDDEN)


def test_the_reach_finder_follows_imports_and_parent_packages() -> None:
    reached = _reached("client.cli")
    assert {"client", "client.gateway_client", "gateway", "gateway.errors"} <= set(reached)
    assert "client.triton_client" in reached  # client/__init__.py's lazy import counts, unless gone around
    assert "client.triton_client" not in _reached("client.cli", around=frozenset({"client.triton_client"}))
    assert _forbidden("gateway.core.config") and _forbidden("gateway.main") and not _forbidden("gateway.images")


@pytest.mark.parametrize("name", sorted(_sources("client")))
def test_the_client_imports_no_gateway_settings_or_server(name: str) -> None:
    """client.triton_client included: it reads model configs with gateway.model_config (no Settings)."""
    reached = _reached(name)
    bad = {module: reached[module] for module in reached if _forbidden(module)}
    assert not bad, f"{name} reaches {sorted(bad)} (imported by {bad})"


_CLIENT_UNDER_GATEWAY_VARIABLES = """
import io
import sys

import numpy as np

import client
import client.cli
from client import decoding
from tests.support.images import encode
from PIL import Image

data = encode(Image.new("RGB", (30, 20), (1, 2, 3)), "PNG")  # 600 pixels, 100-odd bytes: over both variables
assert decoding.decode_photo(data).size == (30, 20)
overlay = client.cli.paint_overlay(data, np.zeros((4, 4), np.uint8), ["background", "cat"], True, "PNG")
assert Image.open(io.BytesIO(overlay)).size == (30, 20)
loaded = sorted(name for name in sys.modules if name.startswith({forbidden}))
assert not loaded, loaded
print("ok")
"""


def test_gateway_variables_do_not_change_the_client() -> None:
    env = {**os.environ, "GATEWAY_MAX_IMAGE_PIXELS": "1", "GATEWAY_MAX_UPLOAD_BYTES": "1"}
    script = _CLIENT_UNDER_GATEWAY_VARIABLES.format(forbidden=CLIENT_FORBIDDEN)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
