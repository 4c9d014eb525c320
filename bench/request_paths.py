"""The paths a request can take, each as a factory of per-worker ``send()`` callables (bench.load).

A ``send()`` does one complete request and returns the size of what came back in bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
import tritonclient.grpc as grpcclient

from bench.load import RequestFailed, Send
from gateway.contract import INPUT_NAME, LOGITS, SEGMENTATION_MAP


def network_alone(onnx_path: Path) -> bytes:
    """The source model's own forward (normalisation, network, upsampling to the input size; no softmax,
    no argmax) as an ONNX graph: the exported graph cut at its `logits` output.

    The export wraps the source's `UINT8 image -> logits` module and adds only the softmax and the argmax
    behind `logits`, so the nodes up to `logits` are exactly that module exported alone.
    """
    model = onnx.load(str(onnx_path))
    return onnx.utils.Extractor(model).extract_model([INPUT_NAME], [LOGITS]).SerializeToString()


def in_process_session(graph: Path | bytes, intra_op_threads: int = 0, spinning: bool = True) -> ort.InferenceSession:
    """An onnxruntime CPU session as a user who skips the service makes one: its default options
    (``intra_op_threads`` 0 = one thread per core; idle threads spin), unless told otherwise.

    ``spinning=False`` sets ``session.intra_op.allow_spinning=0`` (idle threads sleep), as the serving adapter
    did: on a busy machine the figure then swings less, but it is ~30% slower than the defaults on 2 cores.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = str(graph) if isinstance(graph, Path) else graph
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class ReferencePath:
    """onnxruntime in-process (bench.request_paths.in_process_session): a model's own cost, nothing around it.

    ``graph`` is an ONNX file or serialised graph; ``output`` the one output each request fetches.
    """

    def __init__(
        self,
        graph: Path | bytes,
        model_input: np.ndarray,
        intra_op_threads: int = 0,
        output: str = SEGMENTATION_MAP,
        spinning: bool = True,
    ) -> None:
        self.session = in_process_session(graph, intra_op_threads, spinning)
        self.feed = {INPUT_NAME: model_input}
        self.output = output

    def run(self, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        names = list(outputs) if outputs else [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, self.feed), strict=True))

    def make_sender(self) -> Send:
        def send() -> int:
            (value,) = self.session.run([self.output], self.feed)
            return int(value.nbytes)

        return send


class TritonPath:
    """Triton directly over gRPC: UINT8 input, the named outputs asked for (binary tensors; default the map)."""

    def __init__(
        self,
        url: str,
        model_name: str,
        model_input: np.ndarray,
        timeout_s: float = 60.0,
        outputs: Sequence[str] = (SEGMENTATION_MAP,),
    ) -> None:
        self.url, self.model_name, self.model_input, self.timeout_s = url, model_name, model_input, timeout_s
        self.outputs = tuple(outputs)

    def make_sender(self) -> Send:
        client = grpcclient.InferenceServerClient(self.url)
        image = grpcclient.InferInput(INPUT_NAME, list(self.model_input.shape), "UINT8")
        image.set_data_from_numpy(self.model_input)
        requested = [grpcclient.InferRequestedOutput(name) for name in self.outputs]

        def send() -> int:
            result = client.infer(self.model_name, [image], outputs=requested, client_timeout=self.timeout_s)
            size = 0
            for name in self.outputs:
                value = result.as_numpy(name)
                if value is None:
                    raise RequestFailed(f"{self.model_name} answered without {name}")
                size += int(value.nbytes)
            return size

        return send


class GatewayPath:
    """``POST /infer/file`` as existing clients send it: multipart photo + form fields."""

    def __init__(
        self,
        gateway_url: str,
        photo_name: str,
        photo: bytes,
        backend: str,
        result_types: Sequence[str],
        response_format: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.url = f"{gateway_url}/infer/file"
        self.files = {"file": (photo_name, photo, "image/jpeg")}
        # A list is sent as repeated form fields, as `requests` clients do.
        self.form: dict[str, str | list[str]] = {
            "infer_model_type": backend,
            "requested_results_types": list(result_types),
        }
        if response_format is not None:
            self.form["response_format"] = response_format
        self.headers = {"X-API-Key": api_key} if api_key else {}
        self.timeout_s = timeout_s

    def make_sender(self) -> Send:
        client = httpx.Client(timeout=self.timeout_s, headers=self.headers)

        def send() -> int:
            response = client.post(self.url, data=self.form, files=self.files)
            if response.status_code != 200:
                raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
            return len(response.content)

        return send

    def probe(self) -> str | None:
        """None when the gateway serves this request; else why not (e.g. a format it does not offer)."""
        try:
            self.make_sender()()
        except (RequestFailed, httpx.HTTPError) as exc:
            return str(exc)
        return None
