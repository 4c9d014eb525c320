"""The embedded adapter's onnxruntime sessions on CPU share one memory arena per process.

Each session's own arena kept the peak of the batches its file ran, and a stub holds five sessions (the model's
file and its partial files): one stub of one family settled at 2.4 GB PSS after the bench's batches
(docs/performance.md). OnnxRunner registers one CPU arena per process and asks every CPU session to allocate
from it (`session.use_env_allocators`); SERVING_ORT_SHARED_ARENA=0 gives each session its own again.
"""

from __future__ import annotations

import numpy as np
import pytest

USE_ENV_ALLOCATORS = "session.use_env_allocators"


def runs(runner, batch: int) -> None:
    image = np.random.default_rng(batch).integers(0, 255, (batch, 3, 4, 4), dtype=np.uint8)
    result = runner.run({"image": image}, ["scores", "map"])
    np.testing.assert_array_equal(result["map"], image.argmax(axis=1))
    np.testing.assert_array_equal(result["scores"], image.astype(np.float32))


def test_the_sessions_of_a_process_share_one_cpu_arena(adapter, graph, recorded, monkeypatch) -> None:
    monkeypatch.delenv("SERVING_ORT_SHARED_ARENA", raising=False)
    monkeypatch.setattr(adapter, "_SHARED_ARENA_REGISTERED", False)
    runners = [adapter.OnnxRunner(graph, ["scores", "map"], False, 0, 1, 1) for _ in range(3)]
    assert len(recorded["registered"]) == 1  # one arena for the process, however many sessions
    assert [options.get_session_config_entry(USE_ENV_ALLOCATORS) for options in recorded["options"]] == ["1"] * 3
    assert all(runner.shared_arena for runner in runners)
    for runner in runners:
        runs(runner, 1)
        runs(runner, 4)


def test_the_switch_gives_each_session_its_own_arena(adapter, graph, recorded, monkeypatch) -> None:
    monkeypatch.setenv("SERVING_ORT_SHARED_ARENA", "0")
    monkeypatch.setattr(adapter, "_SHARED_ARENA_REGISTERED", False)
    runner = adapter.OnnxRunner(graph, ["scores", "map"], False, 0, 1, 1)
    assert recorded["registered"] == [] and not runner.shared_arena
    with pytest.raises(RuntimeError, match="does not have configuration"):
        recorded["options"][0].get_session_config_entry(USE_ENV_ALLOCATORS)  # never set
    runs(runner, 2)
