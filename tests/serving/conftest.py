"""Fixtures of the serving tests."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

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


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """image [N,3,4,4] -> scores [N,3,4,4] (a plane per class) and map [N,4,4] (their argmax)."""
    nodes = [
        helper.make_node("Cast", ["image"], ["scores"], to=TensorProto.FLOAT),
        helper.make_node("ArgMax", ["scores"], ["argmax"], axis=1, keepdims=0),
        helper.make_node("Cast", ["argmax"], ["map"], to=TensorProto.UINT8),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "planes",
            [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 3, 4, 4])],
            [
                helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3, 4, 4]),
                helper.make_tensor_value_info("map", TensorProto.UINT8, ["N", 4, 4]),
            ],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    path = tmp_path_factory.mktemp("arena") / "model.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture
def recorded(monkeypatch) -> dict[str, list]:
    """onnxruntime's allocator registrations and every session's options, recorded (and still done)."""
    record: dict[str, list] = {"registered": [], "options": []}
    register, session = onnxruntime.create_and_register_allocator, onnxruntime.InferenceSession

    def registering(info, config):
        record["registered"].append(info)
        return register(info, config)

    def creating(model, sess_options=None, providers=None):
        record["options"].append(sess_options)
        return session(model, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(onnxruntime, "create_and_register_allocator", registering)
    monkeypatch.setattr(onnxruntime, "InferenceSession", creating)
    return record
