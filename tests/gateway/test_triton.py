"""Model discovery from Triton configs and the failure mapping of the Triton client (no Triton running)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import anyio
import numpy as np
import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from gateway.core.config import Settings
from gateway.errors import Unavailable
from gateway.triton import TritonClient, model_info_from_config
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(60)


def config_as_triton_sends_it(path: Path) -> dict:
    """A config.pbtxt as JSON, exactly as Triton's gRPC get_model_config(as_json=True) gives it."""
    config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    return json.loads(json_format.MessageToJson(config, preserving_proto_field_name=True))


@pytest.mark.parametrize(("model", "runtime"), [("deeplabv3_onnx", "onnx"), ("deeplabv3_torchscript", "torch")])
def test_committed_configs_describe_the_default_model(model: str, runtime: str) -> None:
    directory = REPO_ROOT / "model_repository" / model
    info = model_info_from_config(config_as_triton_sends_it(directory / "config.pbtxt"))
    assert info is not None
    assert (info.name, info.family, info.runtime) == (model, "deeplabv3", runtime)
    assert info.labels == tuple((directory / "labels.txt").read_text().split())
    assert info.input_size == (512, 512)
    assert info.max_batch_size > 0
    assert info.weights == {"kind": "pretrained", "weights_are_random": False, "file": None, "sha256": None}


def test_a_model_without_segmentation_parameters_is_not_served() -> None:
    config = config_as_triton_sends_it(REPO_ROOT / "model_repository" / "deeplabv3_onnx" / "config.pbtxt")
    del config["parameters"]["segmentation.family"]
    assert model_info_from_config(config) is None


def test_other_input_sizes_come_from_the_image_dims() -> None:
    config = config_as_triton_sends_it(REPO_ROOT / "model_repository" / "deeplabv3_onnx" / "config.pbtxt")
    config["input"][0]["dims"] = ["3", "513", "640"]
    assert model_info_from_config(config).input_size == (513, 640)


def test_weights_come_from_the_config_parameters_only() -> None:
    config = config_as_triton_sends_it(REPO_ROOT / "model_repository" / "deeplabv3_onnx" / "config.pbtxt")
    config["parameters"]["segmentation.weights"] = {"string_value": "file"}
    config["parameters"]["segmentation.weights_file"] = {"string_value": "ft.pth"}
    config["parameters"]["segmentation.weights_sha256"] = {"string_value": "ab" * 32}
    assert model_info_from_config(config).weights == {"kind": "file", "weights_are_random": False, "file": "ft.pth",
                                                      "sha256": "ab" * 32}
    config["parameters"]["segmentation.weights"] = {"string_value": "random"}
    assert model_info_from_config(config).weights["weights_are_random"] is True
    del config["parameters"]["segmentation.weights"]  # a repository exported before the parameter existed
    assert model_info_from_config(config).weights["kind"] == "unknown"
    assert model_info_from_config(config).weights["weights_are_random"] is None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_triton_is_unavailable_not_a_hang() -> None:
    async def calls() -> list[Exception]:
        client = TritonClient(Settings(triton_url=f"127.0.0.1:{_closed_port()}", triton_timeout_s=5))
        errors = []
        try:
            for call in (client.server_ready(), client.repository_index(),
                         client.infer("deeplabv3_onnx", np.zeros((1, 3, 8, 8), np.uint8), ["segmentation_map"])):
                try:
                    await call
                except Exception as error:  # noqa: BLE001 - the test inspects what came out
                    errors.append(error)
        finally:
            await client.close()
        return errors

    errors = anyio.run(calls)
    assert len(errors) == 3
    for error in errors:
        assert isinstance(error, Unavailable), repr(error)
        assert "Triton is not reachable" in error.detail
