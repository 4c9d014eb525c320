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
from gateway.model_config import model_info_from_config
from gateway.triton import TritonClient, channel_args, resolves_names
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
    assert model_info_from_config(config).weights == {
        "kind": "file",
        "weights_are_random": False,
        "file": "ft.pth",
        "sha256": "ab" * 32,
    }
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
            for call in (
                client.server_ready(),
                client.repository_index(),
                client.infer("deeplabv3_onnx", np.zeros((1, 3, 8, 8), np.uint8), ["segmentation_map"]),
            ):
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


@pytest.mark.parametrize(
    ("target", "by_name"),
    [
        ("127.0.0.1:8001", False),
        ("[::1]:8001", False),
        ("ipv4:127.0.0.1:8001,127.0.0.2:8001", False),
        ("triton:8001", True),
        ("dns:///triton.segmentation.svc.cluster.local:8001", True),
        ("dns://10.0.0.10:53/triton.segmentation.svc.cluster.local:8001", True),
    ],
)
def test_only_targets_resolved_by_dns_are_re_resolved(target: str, by_name: bool) -> None:
    assert resolves_names(target) is by_name


def test_channel_keeps_message_limits_and_takes_the_balancing_policy() -> None:
    args = dict(channel_args(Settings(triton_lb_policy="pick_first")))
    assert args["grpc.lb_policy_name"] == "pick_first"
    assert args["grpc.max_receive_message_length"] == args["grpc.max_send_message_length"] == 2**31 - 1
    assert dict(channel_args(Settings()))["grpc.lb_policy_name"] == "round_robin"


def test_unreachable_replicas_are_tried_again_within_the_deadline_then_503() -> None:
    """Two replicas, both refusing: the call is sent 1 + GATEWAY_TRITON_RETRIES times, then 503 at once."""
    retried: list[str] = []

    async def call() -> float:
        target = f"ipv4:127.0.0.1:{_closed_port()},127.0.0.1:{_closed_port()}"
        client = TritonClient(
            Settings(triton_url=target, triton_retries=2),
            observe_latency=lambda _model, outcome, _seconds: retried.append(outcome),
        )
        started = anyio.current_time()
        try:
            with pytest.raises(Unavailable, match="Triton is not reachable"):
                await client.infer("deeplabv3_onnx", np.zeros((1, 3, 8, 8), np.uint8), ["segmentation_map"])
        finally:
            await client.close()
        return anyio.current_time() - started

    took = anyio.run(call)
    assert retried == ["retried", "retried", "error"]
    assert took < 3
