"""The embedded stack as the tests see it: `python -m serving` on free ports, driven from the outside.

Everything goes through the real launcher, the real tritonserver and the real gateway; this module only
starts the launcher, waits on the same HTTP endpoints a user would poll, and checks what is left afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from serving.child import LauncherProcess
from serving.embedded import SUPERVISING_MESSAGE
from serving.settings import shm_region_prefix
from serving.watcher import model_folders
from tests.support.paths import REPO_ROOT
from tests.support.ports import free_ports

START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60


class StackError(RuntimeError):
    """The stack did not come up (or down) as it should; the message carries the relevant logs."""


@dataclass
class EmbeddedStack:
    repository: Path
    run_dir: Path
    gateway: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    launcher: LauncherProcess | None = None

    def __post_init__(self) -> None:
        self.run_dir = self.run_dir.resolve()
        self.repository = self.repository.resolve()
        http, grpc, metrics, gateway = free_ports(4)
        self.ports = {
            "TRITON_HTTP_PORT": http,
            "TRITON_GRPC_PORT": grpc,
            "TRITON_METRICS_PORT": metrics,
            "GATEWAY_PORT": gateway,
        }

    # --- addresses -----------------------------------------------------------------------------
    @property
    def triton_http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['TRITON_HTTP_PORT']}"

    @property
    def triton_grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports['TRITON_GRPC_PORT']}"

    @property
    def triton_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['TRITON_METRICS_PORT']}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    @property
    def model_names(self) -> list[str]:
        return [folder.name for folder in model_folders(self.repository)]

    @property
    def launcher_log(self) -> Path:
        return self.run_dir / "launcher.log"

    @property
    def triton_log(self) -> Path:
        return self.run_dir / "tritonserver.log"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update(
            MODEL_REPOSITORY=str(self.repository),
            SERVING_RUN_DIR=str(self.run_dir),
            TRITON_HOST="127.0.0.1",
            GATEWAY_HOST="127.0.0.1",
            # The tests serve their own images from loopback servers; production refuses loopback URLs.
            GATEWAY_URL_ALLOWLIST="127.0.0.1,localhost",
            # Several tests kill tritonserver on purpose, minutes or seconds apart: more than a user's crashes.
            SERVING_MAX_RESTARTS="20",
        )
        env.update(self.extra_env)
        return env

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        args = ["--skip-export"] + ([] if self.gateway else ["--no-gateway"])
        self.launcher = LauncherProcess(self.environment(), self.launcher_log, args, cwd=REPO_ROOT)
        self.launcher.start()
        self.process = self.launcher.process

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until every model is READY on Triton and (with a gateway) /healthcheck answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise StackError(f"the launcher exited (code {code}) before the stack was ready\n{self.logs()}")
            pending = self.pending()
            if not pending:
                return
            if time.monotonic() > deadline:
                raise StackError(f"not ready after {timeout:.0f} s: {', '.join(pending)}\n{self.logs()}")
            time.sleep(0.5)

    def pending(self) -> list[str]:
        """What is not ready yet, by name."""
        urls = {f"model {name}": f"{self.triton_http_url}/v2/models/{name}/ready" for name in self.model_names}
        if self.gateway:
            urls["gateway /healthcheck"] = f"{self.gateway_url}/healthcheck"
        pending = [what for what, url in urls.items() if _status(url) != 200]
        # Triton answers READY a moment before the launcher has seen it and begun supervising; a test that
        # kills tritonserver in between would hit the launcher's start-up failure path, not a restart.
        if SUPERVISING_MESSAGE not in self._launcher_text():
            pending.append("launcher supervising")
        return pending

    def _launcher_text(self) -> str:
        try:
            return self.launcher_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def triton_pid(self) -> int:
        return int((self.run_dir / "tritonserver.pid").read_text())

    def kill_triton(self) -> int:
        """SIGKILL tritonserver (a crash, as far as the launcher can tell) and wait until it is gone."""
        pid = self.triton_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"the launcher did not exit within {timeout:.0f} s\n{self.logs()}") from None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Stop the launcher like a user would; force-kill everything of this run if it does not comply."""
        if self.launcher is None:
            return None
        try:
            return self.launcher.stop(sig, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.force_cleanup()
            raise StackError(f"the launcher did not stop within {STOP_TIMEOUT_S} s\n{self.logs()}") from None

    # --- what is left --------------------------------------------------------------------------
    def leftover_processes(self) -> list[str]:
        """Processes started for this run (they all carry SERVING_RUN_DIR=<run_dir> in their environment)."""
        marker = f"SERVING_RUN_DIR={self.run_dir}".encode()
        found = []
        for pid in _live_pids():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in environ and pid != os.getpid():
                found.append(f"{pid}: {cmdline.strip()}")
        return found

    def leftover_shm_regions(self) -> list[str]:
        return sorted(str(p) for p in Path("/dev/shm").glob(f"{shm_region_prefix(self.run_dir)}*"))

    def force_cleanup(self) -> None:
        for line in self.leftover_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
        for region in self.leftover_shm_regions():
            Path(region).unlink(missing_ok=True)

    # --- diagnostics ---------------------------------------------------------------------------
    def logs(self, lines: int = 40) -> str:
        parts = []
        for log in (self.launcher_log, self.triton_log, self.run_dir / "gateway.log"):
            if log.is_file():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- last {len(tail)} lines of {log} ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no log in {self.run_dir})"


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code
    except httpx.HTTPError:
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _live_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _alive(int(p.name))]
