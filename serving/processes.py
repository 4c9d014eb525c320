"""Child processes the launcher owns: started in their own session, logged to a file, stopped for sure."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the launcher dies (even SIGKILL), the child gets SIGTERM."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class ManagedProcess:
    """One child process with its own process group, so its own children (Triton's stubs) go with it."""

    def __init__(self, name: str, log_file: Path, pid_file: Path) -> None:
        self.name = name
        self.log_file = log_file
        self.pid_file = pid_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, command: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._log_offset = log.tell()
            # A new session keeps terminal Ctrl-C away from the children: the launcher stops them in order.
            self._process = subprocess.Popen(
                list(command),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")

    def exit_code(self) -> int | None:
        """None while running (or never started as running), else the exit status."""
        return self._process.poll() if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, grace_s: float) -> None:
        """SIGTERM, wait up to `grace_s`, then SIGKILL whatever is left of the process group."""
        if self._process is None:
            return
        pgid = self._process.pid  # the child leads its own session, so its pid is the group id
        if self._process.poll() is None:
            # Only the leader: tritonserver tells its stubs to finalize; a signal to them would race that.
            self._process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace_s)
        self.kill_group(pgid)
        self._process.wait()
        self.pid_file.unlink(missing_ok=True)

    def kill_group(self, pgid: int | None = None) -> None:
        """SIGKILL every live process still in the group (e.g. stubs orphaned by a crashed server)."""
        pgid = pgid or self.pid
        if pgid is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process is not None:
                self._process.poll()  # reap the leader, else it lingers as a zombie
            members = live_group_members(pgid)
            if not members:
                return
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def log_since_start(self) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


def live_group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes of a process group (zombies are dead, only not yet reaped)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


# Lines every CPU-only start prints; they explain nothing.
_HARMLESS = ("CudaDriverHelper has not been initialized", "Failed to initialize NVML", "DCGM unable to start")
_ERROR = re.compile(r"^E\d{4} |\berror\b|unrecognized|failed", re.IGNORECASE)


def log_excerpt(text: str, error_lines: int = 20, tail_lines: int = 15) -> str:
    """The lines that explain a failure: the error lines and the last lines of the log (no banner tables)."""
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and line[:1] not in "|+" and not any(h in line for h in _HARMLESS)
    ]
    usage = next((i for i, line in enumerate(lines) if line.startswith("Usage:")), None)
    if usage is not None:  # a bad option: the reason is above the usage text, which would bury it
        lines = lines[:usage]
    errors = [line for line in lines if _ERROR.search(line)][-error_lines:] if error_lines else []
    chosen = errors + [line for line in lines[-tail_lines:] if line not in errors]
    return "\n".join(f"    {line}" for line in chosen) or "    (the log is empty)"
