"""Fixtures of the serving tests."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from serving.twin import ADAPTER


@pytest.fixture(scope="module")
def adapter() -> types.ModuleType:
    """The embedded adapter (serving/python_backend/model.py), loaded by path as Triton's Python stub loads it.

    It imports Triton's utilities module, which exists only inside the stub: a stand-in takes its place, so the
    adapter's runners and pure functions run in process."""
    stand_in = types.ModuleType("triton_python_backend_utils")
    stand_in.TritonModelException = type("TritonModelException", (Exception,), {})  # type: ignore[attr-defined]
    sys.modules.setdefault("triton_python_backend_utils", stand_in)
    spec = importlib.util.spec_from_file_location("adapter_under_test", ADAPTER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
