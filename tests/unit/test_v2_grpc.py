"""The Open Inference Protocol (KServe v2) over gRPC, called with Triton's own client (tritonclient.grpc.aio and its
generated stubs, so its messages are the protocol's, not ours) against
the front door's app with a fake TorchServe: health, metadata, inference with raw and typed contents, embeddings
only, refusals as gRPC status codes, the message size bound."""
from __future__ import annotations

import asyncio
import json
import os
from typing import Awaitable, Callable

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc.aio as triton
from tritonclient.grpc import service_pb2 as pb2
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

from fashion import models as registry
from launcher import torchserve as ts
from launcher.frontdoor import build_app
from launcher.settings import FrontDoorSettings
from launcher.v2_protocol import WORKFLOW_MODEL
from tests.grpc_fuzz import RAW_CASES, fuzz_model_infer, live, send_raw_grpc
from tests.unit.v2_fake import JPEG, SEEN, fake_torchserve

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


def call(scenario: Callable[[triton.InferenceServerClient, str], Awaitable[None]], ready: bool = True) -> None:
    settings = FrontDoorSettings(max_request_bytes=20_000, max_inflight=2, upstream_timeout_s=5,
                                 grpc_port=ts.free_port())
    app = build_app(settings, "http://torchserve", transport=httpx.MockTransport(fake_torchserve))
    address = f"127.0.0.1:{settings.grpc_port}"

    async def main() -> None:
        async with app.router.lifespan_context(app):
            app.state.frontdoor.ready = ready
            client = triton.InferenceServerClient(address)
            try:
                await scenario(client, address)
            finally:
                await client.close()

    asyncio.run(main())


def images(*raw: bytes) -> triton.InferInput:
    tensor = triton.InferInput("image", [len(raw)], "BYTES")
    tensor.set_data_from_numpy(np.array(raw, dtype=np.object_))
    return tensor


async def refused(call: Awaitable[object]) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as caught:
        await call
    return caught.value.status(), caught.value.message()


def test_health_and_metadata():
    async def scenario(client: triton.InferenceServerClient, address: str) -> None:
        assert await client.is_server_live() and await client.is_server_ready()
        assert await client.is_model_ready("fashion")
        assert await client.is_model_ready(WORKFLOW_MODEL, registry.ARCHIVE_VERSION)
        server = await client.get_server_metadata(as_json=True)
        assert server["name"] == "fashion-serve" and server["extensions"] == ["binary_tensor_data"]
        meta = await client.get_model_metadata("fashion", as_json=True)
        assert meta["versions"] == [registry.ARCHIVE_VERSION]
        assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [("response", "BYTES"), ("embedding", "FP32")]
        status, message = await refused(client.get_model_metadata("nope"))
        assert status == "StatusCode.NOT_FOUND" and "nope" in message
        status, _ = await refused(client.is_model_ready("fashion", "9"))
        assert status == "StatusCode.NOT_FOUND"
    call(scenario)


def test_inference_answers_as_over_rest():
    async def scenario(client: triton.InferenceServerClient, address: str) -> None:
        SEEN.clear()
        result = await client.infer("fashion", [images(JPEG, JPEG[:50])], request_id="g1",
                                    parameters={"max_garments": 3, "mask_format": "none"})
        assert result.get_response().id == "g1"
        responses = [json.loads(r) for r in result.as_numpy("response")]
        assert [r["image"]["width"] for r in responses] == [len(JPEG), 50]
        assert np.allclose(result.as_numpy("embedding"), [[0.6, 0.8], [0.6, 0.8]])
        assert SEEN[-1]["path"] == "/predictions/fashion"
        assert SEEN[-1]["parameters"] == {"max_garments": 3, "mask_format": "none"}
        await client.infer(WORKFLOW_MODEL, [images(JPEG)])
        assert SEEN[-1]["path"] == registry.WORKFLOW_PATH
    call(scenario)


def test_typed_contents_and_embeddings_only():
    async def scenario(client: triton.InferenceServerClient, address: str) -> None:
        SEEN.clear()
        async with grpc.aio.insecure_channel(address) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            tensor = pb2.ModelInferRequest.InferInputTensor(
                name="text", datatype="BYTES", shape=[2],
                contents=pb2.InferTensorContents(bytes_contents=[b"red dress", b"boots"]))
            answer = await stub.ModelInfer(pb2.ModelInferRequest(
                model_name="embedder", inputs=[tensor],
                outputs=[pb2.ModelInferRequest.InferRequestedOutputTensor(name="embedding")]))
        assert [o.name for o in answer.outputs] == ["embedding"] and list(answer.outputs[0].shape) == [2, 2]
        assert np.frombuffer(answer.raw_output_contents[0], "<f4").tolist() == [1.0, 0.0, 1.0, 0.0]
        assert SEEN[-1]["body"]["text"] == ["red dress", "boots"]
        result = await client.infer("fashion", [images(JPEG)], outputs=[triton.InferRequestedOutput("embedding")])
        assert result.as_numpy("response") is None and result.as_numpy("embedding").shape == (1, 2)
        assert SEEN[-1]["parameters"] == {"embedding_only": True}
    call(scenario)


def test_refusals_are_status_codes_that_say_why():
    async def scenario(client: triton.InferenceServerClient, address: str) -> None:
        status, message = await refused(client.infer("fashion", [images(b"bad")]))
        assert status == "StatusCode.INVALID_ARGUMENT" and "does not decode" in message
        result = await client.infer("fashion", [images(b"bad", JPEG)])  # a batch: each image says its own error
        assert "error" in json.loads(result.as_numpy("response")[0])
        status, message = await refused(client.infer("fashion", [images(JPEG)], parameters={"max_garments": 0}))
        assert status == "StatusCode.INVALID_ARGUMENT" and message == "max_garments 0"
        photo = triton.InferInput("photo", [1], "BYTES")
        photo.set_data_from_numpy(np.array([JPEG], dtype=np.object_))
        status, message = await refused(client.infer("fashion", [photo]))
        assert status == "StatusCode.INVALID_ARGUMENT" and "photo" in message
        status, _ = await refused(client.infer("nope", [images(JPEG)]))
        assert status == "StatusCode.NOT_FOUND"
        status, message = await refused(client.infer("fashion", [images(bytes(30_000))]))
        assert status == "StatusCode.RESOURCE_EXHAUSTED", message
        status, message = await refused(client.infer("fashion", [images(*[JPEG[:4] + bytes(8_000)] * 2)]))
        assert status == "StatusCode.RESOURCE_EXHAUSTED" and "base64" in message
    call(scenario)


def test_not_ready_is_unavailable_with_a_retry_after():
    async def scenario(client: triton.InferenceServerClient, address: str) -> None:
        assert await client.is_server_live() and not await client.is_server_ready()
        async with grpc.aio.insecure_channel(address) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            tensor = pb2.ModelInferRequest.InferInputTensor(
                name="image", datatype="BYTES", shape=[1], contents=pb2.InferTensorContents(bytes_contents=[JPEG]))
            call = stub.ModelInfer(pb2.ModelInferRequest(model_name="fashion", inputs=[tensor]))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert ("retry-after", "5") in tuple(caught.value.trailing_metadata() or ())
    call(scenario, ready=False)


def test_a_taken_port_is_a_start_up_error_that_names_it():
    settings = FrontDoorSettings(grpc_port=ts.free_port())
    app = build_app(settings, "http://torchserve", transport=httpx.MockTransport(fake_torchserve))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            with pytest.raises(RuntimeError, match="FASHION_GRPC_PORT"):
                async with app.router.lifespan_context(app):
                    pass

    asyncio.run(main())


def test_fuzzed_calls_and_raw_bytes_get_refusals_never_a_failure():
    """Generated ModelInferRequests (tests.grpc_fuzz) and raw bytes on the port: no UNKNOWN/INTERNAL, no hang."""
    async def scenario(client: triton.InferenceServerClient, address: str) -> None:
        problems = await asyncio.to_thread(fuzz_model_infer, address, JPEG, FUZZ_EXAMPLES)
        host, port = address.rsplit(":", 1)
        for name, payload in RAW_CASES.items():
            took = await asyncio.to_thread(send_raw_grpc, host, int(port), payload)
            if took > 5:
                problems.append(f"raw {name}: {took:.1f} s")
        assert await asyncio.to_thread(live, address)
        result = await client.infer("fashion", [images(JPEG)])
        assert result.as_numpy("embedding").shape == (1, 2)
        assert not problems, "\n".join(problems[:20])
    call(scenario)


@pytest.mark.parametrize("value,port", [("8001", 8001), ("off", None), ("0", None), ("", None), (" OFF ", None)])
def test_the_grpc_port_setting(value, port):
    assert FrontDoorSettings.from_env({"FASHION_GRPC_PORT": value}).grpc_port == port
    assert FrontDoorSettings.from_env({}).grpc_port == 8001


@pytest.mark.parametrize("value", ["70000", "-1", "eight"])
def test_a_bad_grpc_port_is_refused_at_start(value):
    with pytest.raises(ValueError, match="FASHION_GRPC_PORT.*1-65535, or off"):
        FrontDoorSettings.from_env({"FASHION_GRPC_PORT": value})
