"""The embedded adapter's onnxruntime thread spinning: SERVING_ORT_SPINNING and SERVING_ORT_STOP_SPINNING.

By default idle intra-op threads spin (onnxruntime's own default) and keep spinning after a run as onnxruntime
does; SERVING_ORT_SPINNING=0 makes them sleep, SERVING_ORT_STOP_SPINNING=1 stops them spinning once each run
returns (`session.force_spinning_stop`; figures in docs/performance.md).
"""

from __future__ import annotations

import pytest

from tests.serving.test_adapter_arena import runs

INTRA, INTER, STOP = "session.intra_op.allow_spinning", "session.inter_op.allow_spinning", "session.force_spinning_stop"


def entry(options, key: str) -> str | None:
    try:
        return options.get_session_config_entry(key)
    except RuntimeError:  # "does not have configuration": never set
        return None


@pytest.mark.parametrize(
    ("environment", "spinning", "stop"),
    [
        ({}, "1", None),
        ({"SERVING_ORT_SPINNING": "0"}, "0", None),
        ({"SERVING_ORT_STOP_SPINNING": "1"}, "1", "1"),
        ({"SERVING_ORT_STOP_SPINNING": "no"}, "1", None),
    ],
    ids=["default", "sleeping threads", "stop after each run", "stop switched off"],
)
def test_spinning_follows_the_environment(
    adapter, graph, recorded, monkeypatch, environment: dict[str, str], spinning: str, stop: str | None
) -> None:
    for name in ("SERVING_ORT_SPINNING", "SERVING_ORT_STOP_SPINNING"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    runner = adapter.OnnxRunner(graph, ["scores", "map"], False, 0, 1, 1)
    (options,) = recorded["options"]
    assert (entry(options, INTRA), entry(options, INTER), entry(options, STOP)) == (spinning, spinning, stop)
    runs(runner, 2)
