"""One tritonserver process on the twin repository: start, wait until every model is READY, stop, clean."""

from __future__ import annotations

import threading
import time
import urllib.error
from pathlib import Path

from serving.errors import ServingError
from serving.http_probe import post_json, status
from serving.processes import ManagedProcess, log_excerpt
from serving.server_tree import ServerTree
from serving.settings import ServingSettings

# Triton gives in-flight requests this long on SIGTERM; the launcher waits a little more before SIGKILL.
EXIT_TIMEOUT_S = 10


class StopRequested(Exception):
    """The user asked the launcher to stop while it was waiting."""


class TritonServer:
    def __init__(self, settings: ServingSettings, tree: ServerTree, models: list[str]) -> None:
        self.settings = settings
        self.tree = tree
        self.models = models
        self.process = ManagedProcess("tritonserver", settings.triton_log, settings.triton_pid_file)

    def command(self) -> list[str]:
        s = self.settings
        return [
            str(self.tree.binary),
            f"--model-repository={s.twin_repository}",
            f"--backend-directory={self.tree.backends}",
            f"--http-address={s.triton_host}",
            f"--http-port={s.triton_http_port}",
            f"--grpc-address={s.triton_host}",
            f"--grpc-port={s.triton_grpc_port}",
            f"--metrics-address={s.triton_host}",
            f"--metrics-port={s.triton_metrics_port}",
            # A model that fails to load must not take the server down: the launcher reads the reason
            # from the repository index and names the model.
            "--exit-on-error=false",
            # The launcher loads and unloads models itself while serving (serving/watcher.py).
            "--model-control-mode=explicit",
            "--load-model=*",
            # Server readiness = live: the launcher and the gateway check each model themselves. Strict readiness
            # would drop while the watcher loads a model, and for good after one failed load (explicit mode).
            "--strict-readiness=false",
            f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
            f"--backend-config=python,shm-region-prefix-name={s.shm_region_prefix}",
            f"--grpc-infer-allocation-pool-size={s.grpc_allocation_pool}",
            # Without a GPU these pools and GPU metrics only produce warnings.
            "--pinned-memory-pool-byte-size=0",
            "--cuda-memory-pool-byte-size=0:0",
            "--allow-gpu-metrics=false",
            *s.extra_triton_args,
        ]

    def start(self) -> None:
        remove_shm_regions(self.settings.shm_region_prefix)
        env = self.tree.environment()
        env["SERVING_RUN_DIR"] = str(self.settings.run_dir)
        self.process.start(self.command(), env)

    def wait_ready(self, timeout_s: float, stop: threading.Event) -> None:
        """Return when every model is READY; raise ServingError naming what failed otherwise."""
        deadline = time.monotonic() + timeout_s
        base = self.settings.triton_http_url
        while True:
            code = self.process.exit_code()
            if code is not None:
                raise ServingError(
                    f"tritonserver exited with code {code} during startup; from {self.settings.triton_log}:\n"
                    + log_excerpt(self.process.log_since_start())
                )
            if status(f"{base}/v2/health/live") == 200:
                states = self._model_states()
                failed = {name: reason for name, (state, reason) in states.items() if state == "UNAVAILABLE"}
                if failed:
                    raise ServingError(
                        "\n".join(
                            f"model '{name}' failed to load: {reason or 'no reason given'}"
                            for name, reason in failed.items()
                        )
                        + f"\n  (full log: {self.settings.triton_log})"
                    )
                if all(status(f"{base}/v2/models/{name}/ready") == 200 for name in self.models):
                    return
            if time.monotonic() > deadline:
                raise ServingError(
                    f"models not ready after {timeout_s:.0f} s (SERVING_READY_TIMEOUT_S): {self._pending()}; "
                    f"from {self.settings.triton_log}:\n" + log_excerpt(self.process.log_since_start())
                )
            if stop.wait(0.5):
                raise StopRequested

    def _model_states(self) -> dict[str, tuple[str, str]]:
        try:
            index = post_json(f"{self.settings.triton_http_url}/v2/repository/index")
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return {
            entry["name"]: (entry.get("state", ""), entry.get("reason", ""))
            for entry in index or []
            if entry.get("name") in self.models
        }

    def _pending(self) -> str:
        states = self._model_states()
        return ", ".join(f"{name} ({states.get(name, ('unknown', ''))[0] or 'loading'})" for name in self.models)

    def running(self) -> bool:
        return self.process.running()

    def exit_code(self) -> int | None:
        return self.process.exit_code()

    def stop(self) -> None:
        self.process.stop(grace_s=EXIT_TIMEOUT_S + 5)
        # The server removes its regions on a clean exit; after a crash or SIGKILL they stay behind.
        remove_shm_regions(self.settings.shm_region_prefix)

    def clean_after_crash(self) -> None:
        """After the server died: kill its orphaned stubs and remove its shm regions."""
        self.process.kill_group()
        remove_shm_regions(self.settings.shm_region_prefix)


def shm_regions(prefix: str) -> list[Path]:
    return sorted(Path("/dev/shm").glob(f"{prefix}*"))


def remove_shm_regions(prefix: str) -> None:
    for region in shm_regions(prefix):
        region.unlink(missing_ok=True)
