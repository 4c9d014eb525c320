"""The model repository the integration tests serve, exported once and cached by the export code's hash.

Exporting (tracing, ONNX export, onnx2torch) costs a minute of CPU on this machine; the cache under
`.run/test-cache/<hash>/` makes reruns free until export/ (or its inputs) changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO_ROOT, shared_dir

CACHE_ROOT = REPO_ROOT / ".run" / "test-cache"
VOC_SPEC = REPO_ROOT / "export" / "specs" / "voc-deeplabv3-mnv2.json"
VOC_FAMILY = "voc_mnv2"
DEFAULT_FAMILY = "deeplabv3"
EXPORT_TIMEOUT_S = 900
# Entries of older export code kept beside the current one (~100 MB each).
KEEP_OLD_ENTRIES = 2


@dataclass(frozen=True)
class ExportStep:
    family: str
    arguments: tuple[str, ...]


def export_steps() -> list[ExportStep]:
    steps = [ExportStep(DEFAULT_FAMILY, ("--weights", "random", "--skip-parity"))]
    # The real VOC model joins as soon as its spec exists (export engineer's deliverable).
    if VOC_SPEC.is_file():
        steps.append(
            ExportStep(
                VOC_FAMILY,
                (
                    "--source",
                    "onnx",
                    "--input-spec",
                    str(VOC_SPEC.relative_to(REPO_ROOT)),
                    "--name",
                    VOC_FAMILY,
                    "--skip-parity",
                ),
            )
        )
    return steps


def cache_key(steps: list[ExportStep]) -> str:
    digest = hashlib.sha256()
    inputs = sorted(p for p in (REPO_ROOT / "export").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    inputs += [REPO_ROOT / "requirements.txt"]
    for path in inputs:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    voc_model = shared_dir() / "models" / "voc-deeplabv3-mnv2" / "model.onnx"
    if voc_model.is_file():
        digest.update(f"{voc_model.stat().st_size}:{voc_model.stat().st_mtime_ns}".encode())
    for step in steps:
        digest.update(repr(step).encode())
    return digest.hexdigest()[:16]


def cached_export() -> Path:
    """The cached repository for the current export code, exporting it first if needed."""
    steps = export_steps()
    entry = CACHE_ROOT / cache_key(steps)
    repository = entry / "repo"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    # Several pytest runs (engineers in parallel) may want the same entry: one exports, the others wait.
    with open(CACHE_ROOT / f"{entry.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (entry / "complete").is_file():
            shutil.rmtree(entry, ignore_errors=True)
            for step in steps:
                _run_export(step, repository)
            (entry / "complete").write_text("\n".join(s.family for s in steps) + "\n")
        os.utime(entry)  # most recently used
    prune_cache(keep=entry)
    return repository


def prune_cache(keep: Path) -> None:
    """Remove all but the newest entries; one another run is exporting into (its lock is held) stays."""
    entries = sorted(
        (p for p in CACHE_ROOT.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for entry in entries[KEEP_OLD_ENTRIES:]:
        with open(CACHE_ROOT / f"{entry.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(entry, ignore_errors=True)


def exported_repository_copy(target: Path) -> Path:
    """A private copy of the cached repository (hard links: cheap, and exports replace files, never edit them)."""
    source = cached_export()
    shutil.copytree(source, target, copy_function=_link_or_copy)
    return target


def _run_export(step: ExportStep, repository: Path) -> None:
    command = [sys.executable, "-m", "export", *step.arguments, "--repository", str(repository)]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(
            f"export of {step.family} failed ({' '.join(command)}), exit {result.returncode}:\n"
            + (result.stdout + result.stderr)[-4000:]
        )


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
