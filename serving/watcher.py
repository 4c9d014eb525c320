"""Follow the native model repository while serving: load what was exported, unload what was removed.

tritonserver runs with `--model-control-mode=explicit --load-model=*` on the generated twin repository, so
it never looks at the native repository itself. Every SERVING_WATCH_INTERVAL_S this watcher scans the
native repository and fingerprints each model folder (path, size and mtime of every file under it). A model
is acted on only when

* its fingerprint did not change between two scans (debounce: an export stages temp files beside the
  targets and renames them at the end, so a folder in the middle of an export is never picked up), and
* it is complete: `config.pbtxt` parses and every version folder (at least one) holds the model file.

A new or changed complete model gets its twin regenerated (twin.replace_twin_model) and is loaded through
Triton's `POST /v2/repository/models/<name>/load` (an already loaded model is reloaded with its new version
or files); an incomplete one (say, a version folder still being copied) changes nothing, the version served
stays; a model whose folder (or config.pbtxt) is gone is unloaded and its twin removed. When Triton cannot
be reached (it is being restarted), the change is retried on the next scan.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import urllib.error
from collections.abc import Callable
from pathlib import Path

from serving.errors import ServingError
from serving.http_probe import post_json
from serving.twin import artifact_name, read_config, replace_twin_model, version_dirs

log = logging.getLogger("serving")

Fingerprint = tuple[tuple[str, int, int], ...]
INCOMPLETE: Fingerprint = ()  # a folder with a config.pbtxt but not (yet) a loadable model


def fingerprint(model_dir: Path) -> Fingerprint:
    """(relative path, size, mtime) of every file under the folder, symlinks followed for size/mtime."""
    entries = []
    for root, _dirs, files in os.walk(model_dir):
        for name in files:
            path = Path(root) / name
            try:
                stat = path.stat()
            except OSError:  # renamed or removed while scanning: the next scan sees the result
                continue
            entries.append((str(path.relative_to(model_dir)), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def is_complete(model_dir: Path) -> bool:
    """A config Triton can read and, in each version folder (at least one), the model file it names."""
    if not (model_dir / "config.pbtxt").is_file():
        return False
    try:
        artifact = artifact_name(read_config(model_dir / "config.pbtxt"), model_dir)
    except ServingError:
        return False
    versions = version_dirs(model_dir)
    return bool(versions) and (artifact is None or all((version / artifact).is_file() for version in versions))


def model_folders(repository: Path) -> list[Path]:
    """The model folders of a repository (those with a config.pbtxt; hidden ones left out), sorted by name."""
    return sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file() and not p.name.startswith("."))


def scan(repository: Path) -> dict[str, Fingerprint]:
    """Every model folder by name: its fingerprint, or INCOMPLETE."""
    try:
        folders = model_folders(repository)
    except OSError:
        return {}
    return {p.name: fingerprint(p) if is_complete(p) else INCOMPLETE for p in folders}


class TritonRepositoryApi:
    """Triton's model control API (explicit mode) over HTTP."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    def load(self, name: str) -> None:
        post_json(f"{self.base_url}/v2/repository/models/{name}/load", timeout_s=self.timeout_s)

    def unload(self, name: str) -> None:
        post_json(f"{self.base_url}/v2/repository/models/{name}/unload", timeout_s=self.timeout_s)


class RepositoryWatcher:
    """Apply the native repository's changes to the twin and to Triton; `poll()` is one scan."""

    def __init__(
        self,
        repository: Path,
        twin_root: Path,
        triton: TritonRepositoryApi,
        served: dict[str, Fingerprint],
        on_change: Callable[[list[str]], None] = lambda _names: None,
    ) -> None:
        self.repository = repository
        self.twin_root = twin_root
        self.triton = triton
        self.served = {name: f for name, f in served.items() if f != INCOMPLETE}  # in the twin, served by Triton
        self.rejected: dict[str, Fingerprint] = {}  # files that could not be loaded: not again until they change
        self.on_change = on_change  # told the served model names after every change
        self._previous = dict(served)

    def poll(self) -> None:
        current = scan(self.repository)
        previous, self._previous = self._previous, current
        changed = False
        for name in sorted(set(current) | set(self.served) | set(self.rejected)):
            if current.get(name) != previous.get(name):
                continue  # still changing (or just appeared / vanished): decide on the next scan
            wanted = current.get(name)
            if wanted is None:
                changed |= self._unload(name)
            elif wanted != INCOMPLETE and wanted not in (self.served.get(name), self.rejected.get(name)):
                changed |= self._load(name, wanted)
        if changed:
            self.on_change(sorted(self.served))

    def _load(self, name: str, wanted: Fingerprint) -> bool:
        action = "reloading" if name in self.served else "loading new"
        try:
            replace_twin_model(self.repository / name, self.twin_root)
        except (ServingError, OSError) as exc:
            log.error("model '%s' changed but its twin cannot be generated: %s", name, exc)
            self.rejected[name] = wanted
            return False
        log.info("%s model '%s' (changed in %s)", action, name, self.repository)
        try:
            self.triton.load(name)
        except urllib.error.HTTPError as exc:
            # Triton keeps serving the version it had (if any); these files are not tried again unchanged.
            log.error("Triton refused to load model '%s': %s", name, _reason(exc))
            self.rejected[name] = wanted
            if name not in self.served:
                self._forget(name)  # a new model that cannot load must not sit in the index as UNAVAILABLE
            return False
        except (urllib.error.URLError, OSError) as exc:
            log.warning("Triton unreachable while loading '%s' (%s); retrying on the next scan", name, exc)
            return False
        log.info("model '%s' is loaded", name)
        self.served[name] = wanted
        self.rejected.pop(name, None)
        return True

    def _unload(self, name: str) -> bool:
        """Unload a model whose folder is gone (served, or rejected earlier)."""
        log.info("unloading model '%s' (gone from %s)", name, self.repository)
        try:
            self.triton.unload(name)
        except urllib.error.HTTPError as exc:
            log.error("Triton refused to unload model '%s': %s", name, _reason(exc))
        except (urllib.error.URLError, OSError) as exc:
            log.warning("Triton unreachable while unloading '%s' (%s); retrying on the next scan", name, exc)
            return False
        shutil.rmtree(self.twin_root / name, ignore_errors=True)
        self.served.pop(name, None)
        self.rejected.pop(name, None)
        log.info("model '%s' is unloaded", name)
        return True

    def _forget(self, name: str) -> None:
        """Take a model that never loaded out of Triton's repository index (and out of the twin)."""
        shutil.rmtree(self.twin_root / name, ignore_errors=True)
        try:
            self.triton.unload(name)
        except (urllib.error.URLError, OSError) as exc:
            log.warning("could not clear model '%s' from Triton: %s", name, exc)
        else:
            log.info("model '%s' is not served (fix and export it again to retry)", name)


def watch(watcher: RepositoryWatcher, interval_s: float, stop: threading.Event) -> threading.Thread:
    """Run `watcher.poll()` every `interval_s` in a thread until `stop` is set."""

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                watcher.poll()
            except Exception:  # a scan error must not end hot reload for the rest of the run
                log.exception("watching %s failed; trying again in %g s", watcher.repository, interval_s)

    thread = threading.Thread(target=loop, name="repository-watcher", daemon=True)
    thread.start()
    return thread


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read().decode(errors="replace").strip() or str(exc)
    except OSError:
        return str(exc)
