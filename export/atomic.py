"""All-or-nothing writes: every file is staged beside its target and renamed into place at the end.

A rename within one directory is atomic, so a running Triton (or the gateway reading a manifest) sees
either the old file or the new one, never half of one; and a failed export leaves no partial file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from types import TracebackType


class StagedFiles:
    """Use as a context manager: `stage()` paths, write them, `commit()`; an exception removes the temps."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temp, target), in commit order
        self._created_dirs: list[Path] = []

    def stage(self, target: Path) -> Path:
        """A temp path in the target's directory (same filesystem, so the final rename is atomic)."""
        self._make_parents(target.parent)
        temp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._staged.append((temp, target))
        return temp

    def write_bytes(self, target: Path, data: bytes) -> None:
        temp = self.stage(target)
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def write_text(self, target: Path, text: str) -> None:
        self.write_bytes(target, text.encode("utf-8"))

    def temp_for(self, target: Path) -> Path:
        return next(temp for temp, staged_target in self._staged if staged_target == target)

    def commit(self) -> None:
        """Rename in staging order: callers stage model files first and the manifest last."""
        for temp, target in self._staged:
            os.replace(temp, target)
        self._staged.clear()
        self._created_dirs.clear()

    def discard(self) -> None:
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        self._staged.clear()
        for directory in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if still empty: an empty version folder would confuse Triton
        self._created_dirs.clear()

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            path.mkdir()
            self._created_dirs.append(path)

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()  # after commit() there is nothing left to discard
