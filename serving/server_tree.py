"""Prepare the Triton 2.51 server shipped in the nvidia-pytriton wheel so it runs outside PyTriton.

Why each step is needed:
- the Python backend looks for `triton_python_backend_stub` next to `libtriton_python.so`; the wheel keeps
  one stub per Python version elsewhere, so the tree is copied to a writable place with the right stub;
- the copied binary no longer finds the wheel's libraries through its RPATH, and the stub must load this
  interpreter's libpython, hence LD_LIBRARY_PATH;
- the stub runs the first `python3` on PATH and ignores PYTHONPATH, so the venv's bin/ goes first.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from serving.errors import ServingError

# Spin iterations a libgomp thread waits for more work before it sleeps (libgomp's own default: 300,000).
GOMP_SPINCOUNT = "100000"


@dataclass(frozen=True)
class ServerTree:
    root: Path
    library_dirs: tuple[Path, ...]

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.root / "backends"

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment tritonserver (and the stubs it starts) must run with."""
        env = dict(os.environ if base is None else base)
        env["LD_LIBRARY_PATH"] = _prepend(env.get("LD_LIBRARY_PATH"), [str(d) for d in self.library_dirs])
        env["PATH"] = _prepend(env.get("PATH"), [str(Path(sys.executable).parent)])
        # torch's OpenMP threads (libgomp) wait for the next op by spinning a bounded while, then sleep: they
        # neither busy-wait for ever (libgomp's OMP_WAIT_POLICY=ACTIVE) nor sleep after every op (PASSIVE,
        # which made the torch map model 1.6-1.7x slower on a quiet machine: docs/performance.md). An explicit
        # OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
        if "OMP_WAIT_POLICY" not in env:
            env.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)
        return env


def wheel_server_dir() -> Path:
    try:
        import pytriton
    except ImportError as exc:
        raise ServingError("nvidia-pytriton is not installed: run `make venv` (it ships the Triton server)") from exc
    server = Path(pytriton.__file__).parent / "tritonserver"
    if not (server / "bin" / "tritonserver").is_file():
        raise ServingError(f"no tritonserver binary in the nvidia-pytriton wheel at {server}")
    return server


def wheel_library_dir() -> Path:
    libs = wheel_server_dir().parent.parent / "nvidia_pytriton.libs"
    if not libs.is_dir():
        raise ServingError(f"the nvidia-pytriton wheel's libraries are missing: {libs}")
    return libs


def prepare_server_tree(run_dir: Path) -> ServerTree:
    """Copy the wheel's server to `run_dir/tritonserver` (once per wheel) with this interpreter's stub."""
    source = wheel_server_dir()
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = source / "python_backend_stubs" / python_version / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServingError(f"the nvidia-pytriton wheel has no Python backend stub for Python {python_version}")

    root = run_dir / "tritonserver"
    marker = root / ".source"
    if not (marker.is_file() and marker.read_text() == str(source) and (root / "bin" / "tritonserver").is_file()):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("python_backend_stubs"), symlinks=True)
        marker.write_text(str(source))
    installed_stub = root / "backends" / "python" / "triton_python_backend_stub"
    if not installed_stub.is_file() or installed_stub.stat().st_size != stub.stat().st_size:
        shutil.copy2(stub, installed_stub)

    library_dirs = [wheel_library_dir()]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        library_dirs.append(Path(libdir))
    return ServerTree(root=root, library_dirs=tuple(library_dirs))


def _prepend(current: str | None, first: list[str]) -> str:
    rest = [part for part in (current or "").split(os.pathsep) if part and part not in first]
    return os.pathsep.join(first + rest)
