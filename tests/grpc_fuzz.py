"""Hypothesis-driven ModelInferRequests (built with tritonclient's own messages) and raw bytes against the front
door's KServe v2 gRPC port: every call ends within its deadline with a status that is a refusal or an answer, never
UNKNOWN or INTERNAL (gRPC's 500), and the port keeps answering a good call. Used by the unit tests (fake TorchServe)
and the e2e tests (the real one)."""
from __future__ import annotations

import socket
import time

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2 as pb2
from tritonclient.grpc import service_pb2_grpc

FAILURES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
DEADLINE_S = 30.0

_names = st.sampled_from(["image", "options", "text", "photo", "", "IMAGE", "image\x00", "é" * 50])
_models = st.sampled_from(["fashion", "fashion-workflow", "segmenter", "embedder", "attributes", "nope",
                           "fashion__segmenter", "../fashion", "", "x" * 300])
_datatypes = st.sampled_from(["BYTES", "FP32", "INT64", "bytes", "", "STRING"])
_shapes = st.lists(st.integers(min_value=-3, max_value=1 << 40), max_size=4)


def _parameter(draw: st.DrawFn) -> pb2.InferParameter:
    kind = draw(st.sampled_from(["bool_param", "int64_param", "string_param", "double_param", "uint64_param", None]))
    if kind is None:
        return pb2.InferParameter()
    value = {"bool_param": st.booleans(), "int64_param": st.integers(-(1 << 63), (1 << 63) - 1),
             "uint64_param": st.integers(0, (1 << 64) - 1), "double_param": st.floats(allow_nan=True),
             "string_param": st.text(max_size=60)}[kind]
    return pb2.InferParameter(**{kind: draw(value)})


@st.composite
def infer_requests(draw: st.DrawFn, photo: bytes) -> pb2.ModelInferRequest:
    elements = st.one_of(st.binary(max_size=64), st.just(photo), st.just(photo[: len(photo) // 2]),
                         st.just(b'{"mask_format": "none"}'), st.just(b'{"max_garments": -1}'))
    inputs = []
    for _ in range(draw(st.integers(0, 3))):
        items = draw(st.lists(elements, max_size=3))
        shape = draw(st.one_of(st.just([len(items)]), _shapes))
        tensor = pb2.ModelInferRequest.InferInputTensor(name=draw(_names), datatype=draw(_datatypes), shape=shape)
        if draw(st.booleans()):
            tensor.contents.bytes_contents.extend(items)
        inputs.append((tensor, items))
    request = pb2.ModelInferRequest(model_name=draw(_models), model_version=draw(st.sampled_from(["", "1.0", "2"])),
                                    id=draw(st.text(max_size=20)), inputs=[t for t, _ in inputs])
    if inputs and draw(st.booleans()):  # raw contents: each element length-prefixed, one blob per input
        blobs = [b"".join(len(i).to_bytes(4, "little") + i for i in items) for _, items in inputs]
        if draw(st.booleans()):
            blobs = [draw(st.binary(max_size=16)) + b for b in blobs]  # broken framing
        request.raw_input_contents.extend(blobs[: draw(st.integers(0, len(blobs)))] if draw(st.booleans())
                                          else blobs)
    for key in draw(st.lists(st.sampled_from(["max_garments", "mask_format", "include", "embedding_only",
                                              "binary_data_output", "bogus", ""]), max_size=3)):
        request.parameters[key].CopyFrom(_parameter(draw))
    for name in draw(st.lists(st.sampled_from(["response", "embedding", "masks", ""]), max_size=3)):
        request.outputs.add(name=name)
    return request


def fuzz_model_infer(address: str, photo: bytes, examples: int) -> list[str]:
    """Problems seen over `examples` generated calls (empty when none)."""
    problems: list[str] = []
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 1 << 27)]) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

        @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(request=infer_requests(photo))
        def call(request: pb2.ModelInferRequest) -> None:
            begin = time.monotonic()
            try:
                stub.ModelInfer(request, timeout=DEADLINE_S)
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                if code in FAILURES or code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    problems.append(f"{code.name}: {exc.details()!r} for {str(request)[:300]!r}")  # type: ignore[attr-defined]
            if time.monotonic() - begin > DEADLINE_S:
                problems.append(f"slow: {time.monotonic() - begin:.1f} s for {str(request)[:300]!r}")

        call()
    return problems


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
RAW_CASES = {
    "http/1.1 request": b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n",
    "garbage": bytes(range(256)) * 4,
    "preface only": PREFACE,
    "preface and a bad frame": PREFACE + b"\x00\xff\xff\x01\x05\x00\x00\x00\x01" + b"x" * 64,
    "tls client hello": bytes.fromhex("16030100a5010000a10303") + bytes(64),
    "empty": b"",
}


def send_raw_grpc(host: str, port: int, payload: bytes, timeout: float = 10) -> float:
    """Send bytes and read until the server closes or goes quiet; the seconds it took."""
    begin = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.settimeout(2)
        try:
            while sock.recv(65536):
                pass
        except (socket.timeout, ConnectionError):
            pass
    return time.monotonic() - begin


def live(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        return service_pb2_grpc.GRPCInferenceServiceStub(channel).ServerLive(
            pb2.ServerLiveRequest(), timeout=10).live
