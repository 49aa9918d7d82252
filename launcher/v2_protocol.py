"""The Open Inference Protocol (KServe v2) in the front door's terms: the v2 models and their metadata, an inference
request and its answer as typed values, and both read from and written to REST bodies (JSON, and the
`binary_tensor_data` extension Triton's and KServe's clients use). launcher.v2_infer runs a request;
launcher.v2_route speaks it over REST, launcher.v2_grpc over gRPC.

A model takes images as a `BYTES` tensor `image` ([n]: each element an image file's bytes, or in JSON a base64
string or an http(s) URL), optionally `options` (`BYTES` [1], a JSON object of request options; the request's own
`parameters` are options too), and the embedder also `text` (`BYTES` [n]). It answers `response` (`BYTES` [n]: each
image's JSON answer, as /predictions answers it) and, where the model embeds, `embedding` (`FP32` [n, d]).
"""
from __future__ import annotations

import dataclasses
import json
import math
import struct
from typing import Any

import numpy as np

from fashion import models as registry
from fashion.errors import InvalidInput, NotFound, PayloadTooLarge
from fashion.request.json_bounds import check_json_bounds, looks_like_json

SERVER_NAME = "fashion-serve"
SERVER_VERSION = "1"
EXTENSIONS = ("binary_tensor_data",)
PLATFORM = "torchserve"
IMAGE, OPTIONS, TEXT = "image", "options", "text"  # input tensors
RESPONSE, EMBEDDING = "response", "embedding"  # output tensors
BINARY_HEADER = "Inference-Header-Content-Length"  # the binary extension: the JSON part's length in bytes
WORKFLOW_MODEL = f"{registry.WORKFLOW}-workflow"  # the workflow's v2 name (the ensemble already has its own)
MAX_DIMS = 4
LENGTH = struct.Struct("<I")  # a BYTES element in binary: its length, 4 bytes little-endian, then its bytes


@dataclasses.dataclass(frozen=True)
class V2Model:
    """A public model as v2 names it, and where the front door sends its requests."""
    name: str
    path: str  # TorchServe's inference path
    embeds: bool  # it answers an `embedding` tensor
    reads_text: bool = False  # it takes a `text` tensor

    @property
    def inputs(self) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
        text = ((TEXT, "BYTES", (-1,)),) if self.reads_text else ()
        return ((IMAGE, "BYTES", (-1,)), (OPTIONS, "BYTES", (1,)), *text)

    @property
    def outputs(self) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
        return ((RESPONSE, "BYTES", (-1,)), *(((EMBEDDING, "FP32", (-1, -1)),) if self.embeds else ()))


def _v2_models() -> dict[str, V2Model]:
    embeds = {m.name for m in registry.MODELS if any(s.name == EMBEDDING for s in m.sections)}
    models = [V2Model(name, f"/predictions/{name}", name in embeds or name == registry.ENSEMBLE.name,
                      reads_text=name in embeds) for name in registry.SERVED]
    models.append(V2Model(WORKFLOW_MODEL, registry.WORKFLOW_PATH, True))
    return {m.name: m for m in models}


V2_MODELS: dict[str, V2Model] = _v2_models()


def v2_model(name: str, version: str | None = None) -> V2Model:
    """The v2 model `name` (at `version`, the archives' one version, when given); NotFound otherwise."""
    model = V2_MODELS.get(name)
    if model is None:
        raise NotFound(f"no model {name[:64]!r}; the models are {sorted(V2_MODELS)}")
    if version not in (None, "", registry.ARCHIVE_VERSION):
        raise NotFound(f"no version {version[:64]!r} of {name}; it has {registry.ARCHIVE_VERSION}")
    return model


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}


def model_metadata(model: V2Model) -> dict[str, Any]:
    def tensors(specs: tuple[tuple[str, str, tuple[int, ...]], ...]) -> list[dict[str, Any]]:
        return [{"name": n, "datatype": d, "shape": list(s)} for n, d, s in specs]
    return {"name": model.name, "versions": [registry.ARCHIVE_VERSION], "platform": PLATFORM,
            "inputs": tensors(model.inputs), "outputs": tensors(model.outputs)}


@dataclasses.dataclass(frozen=True)
class InputTensor:
    """A BYTES input: each element bytes (binary, gRPC) or text (JSON)."""
    name: str
    shape: tuple[int, ...]
    elements: tuple[bytes | str, ...]


@dataclasses.dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None = None  # REST: this output as binary data (None: the request's binary_data_output)


@dataclasses.dataclass(frozen=True)
class InferRequest:
    model: V2Model
    inputs: tuple[InputTensor, ...]
    outputs: tuple[RequestedOutput, ...] = ()  # none: every output the answer has
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)  # request options
    id: str = ""
    binary_output: bool = False  # REST: outputs not named in `outputs` as binary data

    def input(self, name: str) -> InputTensor | None:
        return next((t for t in self.inputs if t.name == name), None)


@dataclasses.dataclass(frozen=True)
class OutputTensor:
    name: str
    datatype: str  # BYTES or FP32
    shape: tuple[int, ...]
    data: tuple[bytes, ...] | np.ndarray  # BYTES: the elements; FP32: a float32 array of `shape`

    def raw(self) -> bytes:
        """The tensor as the binary extension and gRPC's raw contents carry it."""
        if isinstance(self.data, np.ndarray):
            return np.ascontiguousarray(self.data, dtype="<f4").tobytes()
        return b"".join(LENGTH.pack(len(e)) + e for e in self.data)

    def json_data(self) -> list[Any]:
        if isinstance(self.data, np.ndarray):
            return self.data.astype(np.float32).ravel().tolist()
        return [e.decode("utf-8") for e in self.data]


@dataclasses.dataclass(frozen=True)
class InferAnswer:
    model: V2Model
    outputs: tuple[OutputTensor, ...]
    id: str = ""


# -- checks shared by REST and gRPC ------------------------------------------------------------------------------

def check_shape(name: str, shape: Any) -> tuple[int, ...]:
    if (not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 2**31 for d in shape)):
        raise InvalidInput(f"input {name!r} needs a shape: a list of 1 to {MAX_DIMS} non-negative integers")
    return tuple(shape)


def check_input(name: Any, datatype: Any, shape: tuple[int, ...], count: int) -> None:
    if not isinstance(name, str) or name not in (IMAGE, OPTIONS, TEXT):
        raise InvalidInput(f"unknown input {str(name)[:40]!r}; the inputs are {IMAGE!r} (images), {OPTIONS!r} "
                           f"(a JSON object of options) and, for the embedder, {TEXT!r}")
    if datatype != "BYTES":
        raise InvalidInput(f"input {name!r} must be BYTES, not {str(datatype)[:20]!r}")
    if math.prod(shape) != count:
        raise InvalidInput(f"input {name!r} has shape {list(shape)} but {count} elements")


def check_outputs(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise InvalidInput("an output is requested twice")


def unpack_bytes(name: str, raw: bytes | memoryview) -> tuple[bytes, ...]:
    """A BYTES tensor's elements from its binary form (each a 4-byte little-endian length, then the bytes)."""
    view, out, at = memoryview(raw), [], 0
    while at < len(view):
        if at + LENGTH.size > len(view):
            raise InvalidInput(f"input {name!r}: binary data ends inside an element's 4-byte length")
        (size,) = LENGTH.unpack_from(view, at)
        at += LENGTH.size
        if at + size > len(view):
            raise InvalidInput(f"input {name!r}: an element says {size} bytes but {len(view) - at} remain")
        out.append(bytes(view[at:at + size]))
        at += size
    return tuple(out)


def parameter_value(name: str, value: Any) -> Any:
    if isinstance(value, (dict, list)) or value is None:
        raise InvalidInput(f"parameter {name[:40]!r} must be a string, a number or a boolean; put lists and "
                           f"objects in the {OPTIONS!r} input")
    return value


# -- REST ----------------------------------------------------------------------------------------------------------

def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a list")
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item, name) if isinstance(item, list) else [item])
    return out


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value


def split_binary(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON part of a REST body and the binary data after it (`header_length`: the binary extension's
    header, None for an all-JSON body)."""
    if header_length is None:
        return body, memoryview(b"")
    if not header_length.isdigit() or not 0 < int(header_length) <= len(body):
        raise InvalidInput(f"{BINARY_HEADER} must be the JSON part's length, 1 to {len(body)} bytes "
                           f"(got {header_length[:20]!r})")
    size = int(header_length)
    return body[:size], memoryview(body)[size:]


def read_rest_request(body: bytes, header_length: str | None, model: V2Model) -> InferRequest:
    """A v2 REST inference body -> InferRequest (InvalidInput naming what is wrong)."""
    head, binary = split_binary(body, header_length)
    if not looks_like_json(head):
        raise InvalidInput("the inference request is not JSON: send a JSON object with 'inputs' (images as base64 "
                           f"strings), or the images as binary data after it with {BINARY_HEADER}")
    check_json_bounds(head)
    try:
        obj = _object(json.loads(head), "the inference request")
    except RecursionError:
        raise InvalidInput("the inference request is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the inference request is not JSON ({exc})") from None
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput(f"the inference request needs 'inputs': a list of tensors, such as {{\"name\": "
                           f"\"{IMAGE}\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"<base64>\"]}}")
    at, inputs = 0, []
    for raw in raw_inputs:
        tensor = _object(raw, "each input")
        name = tensor.get("name")
        shape = check_shape(str(name)[:40], tensor.get("shape"))
        params = _object(tensor.get("parameters") or {}, f"input {str(name)[:40]!r}'s parameters")
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary) - at:
                raise InvalidInput(f"input {str(name)[:40]!r}: binary_data_size {str(size)[:20]} does not fit the "
                                   f"{len(binary) - at} bytes of binary data left")
            elements: tuple[bytes | str, ...] = unpack_bytes(str(name)[:40], binary[at:at + size])
            at += size
        else:
            data = _flatten(tensor.get("data"), str(name)[:40])
            if not all(isinstance(e, str) for e in data):
                raise InvalidInput(f"input {str(name)[:40]!r}: BYTES data in JSON are strings (an image as base64)")
            elements = tuple(data)
        check_input(name, tensor.get("datatype"), shape, len(elements))
        inputs.append(InputTensor(name, shape, elements))
    if at != len(binary):
        raise InvalidInput(f"{len(binary) - at} bytes of binary data belong to no input (binary_data_size)")
    outputs = []
    for raw in obj.get("outputs") or []:
        out = _object(raw, "each requested output")
        flag = _object(out.get("parameters") or {}, "an output's parameters").get("binary_data")
        if not isinstance(out.get("name"), str) or not isinstance(flag, (bool, type(None))):
            raise InvalidInput("each requested output needs a 'name' (and binary_data true or false)")
        outputs.append(RequestedOutput(out["name"], flag))
    check_outputs([o.name for o in outputs])
    params = dict(_object(obj.get("parameters") or {}, "'parameters'"))
    binary_output = params.pop("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise InvalidInput("parameter 'binary_data_output' must be true or false")
    request_id = obj.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    return InferRequest(model, tuple(inputs), tuple(outputs), {k: parameter_value(k, v) for k, v in params.items()},
                        request_id[:256], binary_output)


def write_rest_answer(answer: InferAnswer, request: InferRequest) -> tuple[bytes, int | None]:
    """An answer -> (the REST body, the JSON part's length when binary data follows it, else None)."""
    binary_for = {o.name: o.binary for o in request.outputs}
    tensors, blobs = [], []
    for out in answer.outputs:
        entry: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": list(out.shape)}
        wanted = binary_for.get(out.name)
        if request.binary_output if wanted is None else wanted:
            blob = out.raw()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = out.json_data()
        tensors.append(entry)
    head: dict[str, Any] = {"model_name": answer.model.name, "model_version": registry.ARCHIVE_VERSION}
    if answer.id:
        head["id"] = answer.id
    head["outputs"] = tensors
    text = json.dumps(head, separators=(",", ":")).encode()
    if not blobs:
        return text, None
    return text + b"".join(blobs), len(text)


def too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request is {size} bytes as the model server reads it (images as base64); the "
                           f"limit is {limit} (MAX_REQUEST_BYTES): send fewer or smaller images per request")
