"""The Open Inference Protocol's (KServe v2) REST messages, read and written: no FastAPI, no inference.

The inference request (docs/protocols.md): a JSON header, optionally followed by binary tensor data (Triton's
binary-data extension: the ``Inference-Header-Content-Length`` header gives the JSON's length, each input sent
binary says its ``parameters.binary_data_size``, and the chunks follow the JSON in input order). A ``BYTES``
tensor in binary is its elements one after the other, each a 4-byte little-endian length and that many bytes
(tritonclient.utils.serialize_byte_tensor); in JSON, ``data`` holds strings, which cannot carry a JPEG's bytes,
so the gateway reads each one as base64. The answer is the same: JSON outputs carry ``data`` (row-major, flat),
binary ones ``parameters.binary_data_size`` and their raw little-endian bytes after the JSON.

Every problem is a gateway.errors.BadRequest naming the field and what was expected; the route answers it as the
protocol's ``{"error": "..."}`` (gateway/api/routes/v2.py).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from tritonclient.utils import np_to_triton_dtype

from gateway.errors import BadRequest, shown

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_DATA_SIZE = "binary_data_size"  # an input's or output's parameter: the bytes of its binary chunk
BINARY_DATA = "binary_data"  # a requested output's parameter: answer it binary
BINARY_DATA_OUTPUT = "binary_data_output"  # a request parameter: every output binary unless it says otherwise
BINARY_MEDIA_TYPE = "application/octet-stream"
BYTES = "BYTES"
# The protocol's datatypes (its "Tensor Data Types" table).
DATATYPES: tuple[str, ...] = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
)
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class InputTensor:
    """One input of a request as sent: its JSON ``data`` or its binary chunk (exactly one of them)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any = None  # the JSON `data` (None when binary)
    binary: bytes | None = None  # the chunk after the JSON (None when JSON)


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None  # None: the output does not say (the request's binary_data_output decides)


@dataclass(frozen=True)
class InferenceRequest:
    id: str | None
    parameters: dict[str, Any]
    inputs: tuple[InputTensor, ...]
    outputs: tuple[RequestedOutput, ...] | None  # None: the request names none (every output is answered)


@dataclass(frozen=True)
class OutputTensor:
    name: str
    array: np.ndarray
    binary: bool


# --- reading a request ------------------------------------------------------------------------------
def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON header (an object) and the binary data after it; without ``header_length`` the body is all JSON."""
    if header_length is None:
        length = len(body)
    else:
        try:
            length = int(header_length.strip())
        except ValueError:
            raise BadRequest(
                f"header {HEADER_LENGTH} '{shown(header_length)}' is not a whole number of bytes"
            ) from None
        if not 0 <= length <= len(body):
            raise BadRequest(f"header {HEADER_LENGTH} is {length}, but the body has {len(body)} bytes")
    try:
        header = orjson.loads(body[:length])
    except orjson.JSONDecodeError as error:
        hint = f" (is {HEADER_LENGTH} right?)" if header_length is not None else ""
        raise BadRequest(f"the inference request is not valid JSON: {error}{hint}") from None
    if not isinstance(header, dict):
        raise BadRequest("the inference request must be a JSON object with 'inputs'")
    return header, body[length:]


def _parameters(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"the 'parameters' of {where} must be a JSON object")
    return value


def _shape(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(type(item) is int and item >= 0 for item in value):
        raise BadRequest(f"the 'shape' of {where} must be a list of whole numbers >= 0, not {shown(value)}")
    return tuple(value)


def _flag(value: object, name: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"parameter '{name}' of {where} must be true or false, not {shown(value)}")
    return value


def parse_request(header: Mapping[str, Any], binary: bytes) -> InferenceRequest:
    """The request's inputs (each with its data or its binary chunk), requested outputs, id and parameters."""
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("the request's 'id' must be a string")
    parameters = _parameters(header.get("parameters"), "the request")
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest("the inference request must have 'inputs': a list of at least one tensor")
    inputs: list[InputTensor] = []
    offset = 0
    for position, raw in enumerate(raw_inputs):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise BadRequest(f"input {position} must be an object with a 'name' string")
        name = raw["name"]
        where = f"input '{shown(name)}'"
        datatype = raw.get("datatype")
        if datatype not in DATATYPES:
            raise BadRequest(f"the 'datatype' of {where} is {shown(datatype)}; allowed: {', '.join(DATATYPES)}")
        shape = _shape(raw.get("shape"), where)
        size = _parameters(raw.get("parameters"), where).get(BINARY_DATA_SIZE)
        if size is None:
            if "data" not in raw:
                raise BadRequest(f"{where} has neither 'data' nor parameters.{BINARY_DATA_SIZE}")
            inputs.append(InputTensor(name, datatype, shape, data=raw["data"]))
            continue
        if type(size) is not int or size < 0:
            raise BadRequest(f"parameter '{BINARY_DATA_SIZE}' of {where} must be a whole number of bytes")
        if "data" in raw:
            raise BadRequest(f"{where} has both 'data' and parameters.{BINARY_DATA_SIZE}; send one of them")
        if offset + size > len(binary):
            raise BadRequest(
                f"{where} says {size} bytes of binary data, but only {len(binary) - offset} follow the JSON "
                f"(is {HEADER_LENGTH} right?)"
            )
        inputs.append(InputTensor(name, datatype, shape, binary=binary[offset : offset + size]))
        offset += size
    if offset != len(binary):
        raise BadRequest(
            f"{len(binary) - offset} bytes follow the JSON that no input claims (parameters.{BINARY_DATA_SIZE})"
        )
    return InferenceRequest(request_id, parameters, tuple(inputs), _requested_outputs(header.get("outputs")))


def _requested_outputs(value: object) -> tuple[RequestedOutput, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest("the request's 'outputs' must be a list of objects with a 'name'")
    outputs: list[RequestedOutput] = []
    for position, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise BadRequest(f"requested output {position} must be an object with a 'name' string")
        where = f"output '{shown(raw['name'])}'"
        parameters = _parameters(raw.get("parameters"), where)
        unknown = sorted(set(parameters) - {BINARY_DATA})
        if unknown:
            raise BadRequest(f"unknown parameter '{shown(unknown[0])}' of {where}; allowed: {BINARY_DATA}")
        binary = parameters.get(BINARY_DATA)
        outputs.append(RequestedOutput(raw["name"], None if binary is None else _flag(binary, BINARY_DATA, where)))
    return tuple(outputs)


_END = object()


def _flatten(data: object) -> list[object]:
    """A JSON tensor's ``data``, flat or nested lists, in row-major order (no recursion: any depth is fine)."""
    flat: list[object] = []
    stack = [iter([data])]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            flat.append(item)
    return flat


def _split_bytes(chunk: bytes, where: str, most: int) -> list[bytes]:
    """A BYTES tensor's binary data: each element a 4-byte little-endian length and that many bytes (Triton's
    layout, tritonclient.utils.serialize_byte_tensor's). Stops past ``most`` elements, so a body of many empty
    elements cannot make millions of objects."""
    elements: list[bytes] = []
    offset = 0
    view = memoryview(chunk)
    while offset < len(chunk):
        if len(elements) == most:
            raise BadRequest(f"the binary data of {where} holds more elements than its shape's {most}")
        if offset + _LENGTH.size > len(chunk):
            raise BadRequest(
                f"the binary data of {where} is not a BYTES tensor: {len(chunk) - offset} bytes are left where an "
                "element's 4-byte little-endian length should be"
            )
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if offset + length > len(chunk):
            raise BadRequest(
                f"the binary data of {where} is not a BYTES tensor: element {len(elements)} says {length} bytes, "
                f"{len(chunk) - offset} are left (each element is a 4-byte little-endian length, then its bytes)"
            )
        elements.append(bytes(view[offset : offset + length]))
        offset += length
    return elements


def _base64(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise BadRequest(f"{where} is {type(text).__name__}; a BYTES element in JSON is a base64 string")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            f"{where} is not base64: a BYTES element in JSON is the photo's bytes as base64 "
            "(or send the tensor binary: tritonclient's binary_data=True)"
        ) from None


def bytes_elements(tensor: InputTensor) -> list[bytes]:
    """The elements of a BYTES tensor, in row-major order: its binary chunk split, or its JSON strings as base64;
    as many as its shape says (else 400)."""
    where = f"input '{shown(tensor.name)}'"
    if tensor.datatype != BYTES:
        raise BadRequest(f"{where} has datatype {tensor.datatype}; it must be BYTES (the encoded photos)")
    expected = math.prod(tensor.shape)
    if tensor.binary is not None:
        elements: list[Any] = _split_bytes(tensor.binary, where, expected)
    else:
        elements = _flatten(tensor.data)
    if len(elements) != expected:
        raise BadRequest(f"{where} has shape {list(tensor.shape)} ({expected} elements) but {len(elements)} elements")
    if tensor.binary is None:
        elements = [_base64(item, f"element {index} of {where}") for index, item in enumerate(elements)]
    return elements


# --- writing an answer -------------------------------------------------------------------------------
def datatype_of(array: np.ndarray) -> str:
    """The protocol's datatype of a numpy array (UINT8, FP32, ...)."""
    return str(np_to_triton_dtype(array.dtype))


def encode_response(header: Mapping[str, Any], outputs: Sequence[OutputTensor]) -> tuple[bytes, int | None]:
    """The answer's body and, when any output is binary, the length of its JSON (for ``HEADER_LENGTH``).

    ``header``: model_name, model_version, id, parameters (as they are to appear); the outputs are added.
    """
    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for output in outputs:
        array = np.ascontiguousarray(output.array)
        entry: dict[str, Any] = {"name": output.name, "datatype": datatype_of(array), "shape": list(array.shape)}
        if output.binary:
            chunk = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {BINARY_DATA_SIZE: len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = array.reshape(-1)  # row-major, flat; orjson writes numpy natively
        described.append(entry)
    body = orjson.dumps({**header, "outputs": described}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return body, None
    return body + b"".join(chunks), len(body)
