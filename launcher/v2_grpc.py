"""The Open Inference Protocol (KServe v2) over gRPC: GRPCInferenceService (ServerLive, ServerReady, ModelReady,
ServerMetadata, ModelMetadata, ModelInfer) on its own port (FASHION_GRPC_PORT, 8001; "off" turns it off), in the
front door's process and event loop, so a request runs through the same V2Service, in-flight bounds and pipeline
as over REST. Messages are at most MAX_REQUEST_BYTES each way; at most `max_rpcs` calls are handled at once (past
it, RESOURCE_EXHAUSTED at once); a client's deadline cancels its call. Refusals keep their meaning as gRPC status
codes (GRPC_STATUS). The messages come from launcher/protos/grpc_predict_v2.proto, compiled at import."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import grpc

from fashion import models as registry
from fashion.errors import InvalidInput, RequestError
from launcher.v2_infer import V2Service
from launcher.v2_protocol import (InferAnswer, InferRequest, InputTensor, RequestedOutput, check_input,
                                  check_outputs, check_shape, model_metadata, parameter_value, server_metadata,
                                  unpack_bytes, v2_model)

PROTOS = Path(__file__).with_name("protos")
SERVICE = "inference.GRPCInferenceService"  # the protocol's name on the wire (the .proto's package is our own)
RPCS = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")


def _compile() -> tuple[Any, Any]:
    sys.path.insert(0, str(PROTOS))
    try:
        return grpc.protos_and_services("fashion_v2_inference.proto")  # type: ignore[attr-defined]
    finally:
        sys.path.remove(str(PROTOS))


pb2, _services = _compile()

GRPC_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND, 405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.INVALID_ARGUMENT,
    502: grpc.StatusCode.UNAVAILABLE, 503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED}


def grpc_status(code: int) -> grpc.StatusCode:
    return GRPC_STATUS.get(code, grpc.StatusCode.INVALID_ARGUMENT if code < 500 else grpc.StatusCode.INTERNAL)


def _parameters(params: Any) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        choice = value.WhichOneof("parameter_choice")
        if choice is None:
            raise InvalidInput(f"parameter {key[:40]!r} has no value")
        out[key] = parameter_value(key, getattr(value, choice))
    return out


def read_grpc_request(message: Any) -> InferRequest:
    """A ModelInferRequest -> InferRequest: BYTES elements from raw_input_contents (one per input) or
    contents.bytes_contents."""
    model = v2_model(message.model_name, message.model_version or None)
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(f"{len(raw)} raw_input_contents for {len(message.inputs)} inputs; send one per input")
    if not message.inputs:
        raise InvalidInput("the request needs inputs, such as the BYTES tensor 'image'")
    inputs = []
    for n, tensor in enumerate(message.inputs):
        shape = check_shape(tensor.name[:40], list(tensor.shape))
        elements = unpack_bytes(tensor.name[:40], raw[n]) if raw else tuple(tensor.contents.bytes_contents)
        check_input(tensor.name, tensor.datatype, shape, len(elements))
        inputs.append(InputTensor(tensor.name, shape, elements))
    check_outputs([o.name for o in message.outputs])
    params = _parameters(message.parameters)
    params.pop("binary_data_output", None)  # a REST notion; gRPC answers raw contents
    return InferRequest(model, tuple(inputs), tuple(RequestedOutput(o.name) for o in message.outputs), params,
                        message.id[:256])


def write_grpc_answer(answer: InferAnswer) -> Any:
    return pb2.ModelInferResponse(
        model_name=answer.model.name, model_version=registry.ARCHIVE_VERSION, id=answer.id,
        outputs=[pb2.ModelInferResponse.InferOutputTensor(name=t.name, datatype=t.datatype, shape=list(t.shape))
                 for t in answer.outputs],
        raw_output_contents=[t.raw() for t in answer.outputs])


def inference_service(servicer: "InferenceServicer") -> grpc.GenericRpcHandler:
    """The servicer's calls under the protocol's service name, each message (de)serialised by its own class."""
    methods = pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name
    handlers = {}
    for rpc in RPCS:
        method = methods[rpc]
        request, response = (getattr(pb2, m.name) for m in (method.input_type, method.output_type))
        handlers[rpc] = grpc.unary_unary_rpc_method_handler(getattr(servicer, rpc),
                                                            request_deserializer=request.FromString,
                                                            response_serializer=response.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


class InferenceServicer:
    """The six calls, each a thin adapter over V2Service and launcher.v2_protocol."""

    def __init__(self, service: V2Service) -> None:
        self.service = service

    @staticmethod
    async def refuse(context: grpc.aio.ServicerContext, exc: RequestError) -> None:
        if exc.retry_after is not None:
            context.set_trailing_metadata((("retry-after", str(exc.retry_after)),))
        await context.abort(grpc_status(exc.code), exc.message)

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb2.ServerReadyResponse(ready=await self.service.ready())

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            v2_model(request.name, request.version or None)
        except RequestError as exc:
            await self.refuse(context, exc)
        return pb2.ModelReadyResponse(ready=await self.service.ready())

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb2.ServerMetadataResponse(**server_metadata())

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            meta = model_metadata(v2_model(request.name, request.version or None))
        except RequestError as exc:
            await self.refuse(context, exc)
        tensor = pb2.ModelMetadataResponse.TensorMetadata
        return pb2.ModelMetadataResponse(name=meta["name"], versions=meta["versions"], platform=meta["platform"],
                                         inputs=[tensor(**t) for t in meta["inputs"]],
                                         outputs=[tensor(**t) for t in meta["outputs"]])

    async def ModelInfer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            infer = read_grpc_request(request)
            auth = dict(context.invocation_metadata() or ()).get("authorization")
            answer = await self.service.infer(infer, auth if isinstance(auth, str) else None)
        except RequestError as exc:
            await self.refuse(context, exc)
        return write_grpc_answer(answer)


@contextlib.asynccontextmanager
async def grpc_endpoint(service: V2Service, host: str, port: int, max_bytes: int, max_rpcs: int,
                        grace_s: float) -> AsyncIterator[grpc.aio.Server]:
    """The gRPC endpoint while the block runs; on exit, calls in flight get `grace_s` to finish."""
    server = await start_grpc(service, host, port, max_bytes, max_rpcs)
    try:
        yield server
    finally:
        await server.stop(grace_s)


async def start_grpc(service: V2Service, host: str, port: int, max_bytes: int, max_rpcs: int) -> grpc.aio.Server:
    """The gRPC server, started on host:port (RuntimeError naming the port if it cannot bind)."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_bytes),
                                      ("grpc.max_send_message_length", max_bytes),
                                      ("grpc.so_reuseport", 0)],
                             maximum_concurrent_rpcs=max_rpcs)
    server.add_generic_rpc_handlers((inference_service(InferenceServicer(service)),))
    try:
        server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise RuntimeError(f"the gRPC port {host}:{port} cannot be bound ({exc}); set FASHION_GRPC_PORT to a free "
                           "port, or FASHION_GRPC_PORT=off") from None
    await server.start()
    return server
