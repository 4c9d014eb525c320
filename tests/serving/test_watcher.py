"""The repository watcher's decisions: what counts as a complete, settled model folder, and when to act.

The Triton side is a recorder here (these tests are about the scan and debounce logic, which a real export
can't hit deterministically); test_hot_reload.py runs the same watcher against the real server.
"""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest

from serving.watcher import INCOMPLETE, RepositoryWatcher, is_complete, scan


class RecordingTriton:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.unreachable = False

    def load(self, name: str) -> None:
        self._call("load", name)

    def unload(self, name: str) -> None:
        self._call("unload", name)

    def _call(self, action: str, name: str) -> None:
        if self.unreachable:
            raise urllib.error.URLError("connection refused")
        if name in self.refuse:
            raise urllib.error.HTTPError("http://triton", 400, "failed to load", {}, None)  # type: ignore[arg-type]
        self.calls.append((action, name))


def write_model(repository: Path, name: str, version: int = 1, artifact: bytes = b"onnx") -> Path:
    folder = repository / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n')
    (folder / str(version) / "model.onnx").write_bytes(artifact)
    return folder


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    repository = tmp_path / "repo"
    repository.mkdir()
    write_model(repository, "old_onnx")
    return repository


@pytest.fixture
def triton() -> RecordingTriton:
    return RecordingTriton()


@pytest.fixture
def watcher(repository: Path, tmp_path: Path, triton: RecordingTriton) -> RepositoryWatcher:
    twin = tmp_path / "twin"
    twin.mkdir()
    return RepositoryWatcher(repository, twin, triton, scan(repository))  # type: ignore[arg-type]


def test_only_complete_folders_are_models(repository: Path) -> None:
    assert is_complete(repository / "old_onnx")
    (repository / "no_version").mkdir()
    (repository / "no_version" / "config.pbtxt").write_text('platform: "onnxruntime_onnx"')
    half = write_model(repository, "half_onnx")
    (half / "1" / "model.onnx").unlink()
    (half / "1" / "model.onnx.tmp-1-abc").write_bytes(b"half")  # an export's staged file
    broken = write_model(repository, "broken")
    (broken / "config.pbtxt").write_text("this is { not protobuf text")
    found = scan(repository)
    assert found["old_onnx"] != INCOMPLETE
    assert {name: found[name] for name in ("no_version", "half_onnx", "broken")} == dict.fromkeys(
        ("no_version", "half_onnx", "broken"), INCOMPLETE
    )


def test_a_new_model_is_loaded_once_its_files_stop_changing(
    repository: Path, watcher: RepositoryWatcher, triton: RecordingTriton
) -> None:
    watcher.poll()
    assert triton.calls == []
    write_model(repository, "new_onnx")
    watcher.poll()
    assert triton.calls == [], "a folder that just appeared may still be written"
    watcher.poll()
    assert triton.calls == [("load", "new_onnx")]
    assert (watcher.twin_root / "new_onnx" / "1" / "model.onnx").resolve() == (repository / "new_onnx/1/model.onnx")
    watcher.poll()
    assert triton.calls == [("load", "new_onnx")], "nothing changed: nothing to do"


def test_a_model_still_being_written_waits(
    repository: Path, watcher: RepositoryWatcher, triton: RecordingTriton
) -> None:
    folder = write_model(repository, "new_onnx")
    for step in range(3):
        (folder / f"labels.txt.tmp-{step}").write_text("x")  # the export keeps staging files
        watcher.poll()
    assert triton.calls == []
    for temp in folder.glob("*.tmp-*"):
        temp.unlink()
    watcher.poll()
    watcher.poll()
    assert triton.calls == [("load", "new_onnx")]


def test_a_new_version_or_new_files_reload_the_model(
    repository: Path, watcher: RepositoryWatcher, triton: RecordingTriton
) -> None:
    write_model(repository, "old_onnx", version=2)
    watcher.poll(), watcher.poll()
    assert triton.calls == [("load", "old_onnx")]
    assert sorted(p.name for p in (watcher.twin_root / "old_onnx").iterdir() if p.is_dir()) == ["1", "2"]
    artifact = repository / "old_onnx" / "2" / "model.onnx"
    artifact.write_bytes(b"retrained")
    os.utime(artifact, ns=(1, 1))
    watcher.poll(), watcher.poll()
    assert triton.calls == [("load", "old_onnx")] * 2


def test_a_version_folder_being_copied_leaves_the_served_version_alone(
    repository: Path, watcher: RepositoryWatcher, triton: RecordingTriton
) -> None:
    (repository / "old_onnx" / "2").mkdir()  # copy begun: no model file yet
    for _ in range(3):
        watcher.poll()
    assert triton.calls == [] and "old_onnx" in watcher.served
    (repository / "old_onnx" / "2" / "model.onnx").write_bytes(b"v2")
    watcher.poll(), watcher.poll()
    assert triton.calls == [("load", "old_onnx")]


def test_a_removed_model_is_unloaded_and_its_twin_removed(
    repository: Path, watcher: RepositoryWatcher, triton: RecordingTriton
) -> None:
    write_model(repository, "new_onnx")
    watcher.poll(), watcher.poll()
    changes: list[list[str]] = []
    watcher.on_change = changes.append
    for path in sorted((repository / "new_onnx").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (repository / "new_onnx").rmdir()
    watcher.poll()
    assert triton.calls[-1] == ("load", "new_onnx"), "gone on one scan only: maybe being replaced"
    watcher.poll()
    assert triton.calls[-1] == ("unload", "new_onnx")
    assert not (watcher.twin_root / "new_onnx").exists()
    assert changes == [["old_onnx"]]


def test_unreachable_triton_is_retried_and_a_refused_model_is_not(
    repository: Path, watcher: RepositoryWatcher, triton: RecordingTriton
) -> None:
    write_model(repository, "new_onnx")
    write_model(repository, "bad_onnx")
    triton.unreachable, triton.refuse = True, {"bad_onnx"}
    watcher.poll(), watcher.poll()
    assert triton.calls == []
    triton.unreachable = False
    watcher.poll()
    assert triton.calls == [("load", "new_onnx")]
    assert "bad_onnx" not in watcher.served and "bad_onnx" in watcher.rejected
    assert not (watcher.twin_root / "bad_onnx").exists(), "a model that never loaded leaves the twin"
    watcher.poll()
    assert triton.calls == [("load", "new_onnx")], "refused files are not tried again until they change"
