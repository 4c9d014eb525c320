"""`python -m serving` as the child of another program: the benchmark (`make bench`) and the test suite start,
watch and stop the embedded stack through this one helper, exactly as a user's terminal would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


class LauncherProcess:
    """The launcher with its output in ``log_file``; stopped by a signal it handles (SIGTERM, SIGINT), so it
    stops Triton and the gateway itself. ``own_session``: a group of its own, which ``kill()`` ends whole."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_file: Path,
        args: Sequence[str] = (),
        cwd: Path | None = None,
        own_session: bool = False,
    ) -> None:
        self.env = dict(env)
        self.log_file = log_file
        self.args = tuple(args)
        self.cwd = cwd
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "serving", *self.args],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
            )

    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return None if self.process is None else self.process.poll()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 60) -> int | None:
        """Signal it (if still running) and wait; ``subprocess.TimeoutExpired`` when it does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """The last resort after a stop timed out: SIGKILL to its whole session (own_session) or to it alone."""
        if self.process is None or self.process.poll() is not None:
            return
        if self.own_session:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.kill()
        self.process.wait()
