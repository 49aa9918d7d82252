"""The Open Inference Protocol (KServe v2) over REST against a fake TorchServe: metadata, readiness, inference in
JSON and with binary data, options, embeddings only, errors in v2's shape with the same codes and limits."""
from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any, Awaitable, Callable

import httpx
import numpy as np
import pytest

from fashion import models as registry
from launcher.frontdoor import build_app
from launcher.settings import FrontDoorSettings
from launcher.v2_protocol import V2_MODELS, WORKFLOW_MODEL
from tests.unit.v2_fake import JPEG, SEEN, fake_torchserve

SETTINGS = FrontDoorSettings(max_request_bytes=20_000, max_inflight=2, upstream_timeout_s=5)
def call(scenario: Callable[[httpx.AsyncClient], Awaitable[None]], ready: bool = True) -> None:
    app = build_app(SETTINGS, "http://torchserve", transport=httpx.MockTransport(fake_torchserve))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            app.state.frontdoor.ready = ready
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://front") as client:
                await scenario(client)

    asyncio.run(main())


def v2_error_of(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], r.text
    return body["error"]


def image_input(*images: bytes) -> dict[str, Any]:
    return {"name": "image", "datatype": "BYTES", "shape": [len(images)],
            "data": [base64.b64encode(i).decode() for i in images]}


def binary_body(images: list[bytes], head: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    blob = b"".join(struct.pack("<I", len(i)) + i for i in images)
    head = {**head, "inputs": [{"name": "image", "datatype": "BYTES", "shape": [len(images)],
                                "parameters": {"binary_data_size": len(blob)}}]}
    text = json.dumps(head).encode()
    return text + blob, {"Inference-Header-Content-Length": str(len(text)), "Content-Type": "application/octet-stream"}


def test_server_metadata_health_and_model_metadata():
    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v2")).json()["extensions"] == ["binary_tensor_data"]
        assert (await client.get("/v2/health/live")).json() == {"live": True}
        assert (await client.get("/v2/health/ready")).json() == {"ready": True}
        meta = (await client.get("/v2/models/fashion")).json()
        assert meta["versions"] == [registry.ARCHIVE_VERSION]
        assert [t["name"] for t in meta["inputs"]] == ["image", "options"]
        assert meta["outputs"] == [{"name": "response", "datatype": "BYTES", "shape": [-1]},
                                   {"name": "embedding", "datatype": "FP32", "shape": [-1, -1]}]
        assert [t["name"] for t in (await client.get("/v2/models/segmenter")).json()["outputs"]] == ["response"]
        assert "text" in [t["name"] for t in (await client.get("/v2/models/embedder")).json()["inputs"]]
        versioned = await client.get(f"/v2/models/{WORKFLOW_MODEL}/versions/{registry.ARCHIVE_VERSION}/ready")
        assert versioned.json() == {"name": WORKFLOW_MODEL, "ready": True}
        for path in ("/v2/models/nope", "/v2/models/fashion/versions/9", "/v2/models/fashion__segmenter/ready",
                     "/v2/models/fashion/infer/more"):
            r = await client.get(path)
            assert r.status_code == 404 and v2_error_of(r)
    call(scenario)


def test_not_ready_is_a_503_in_v2_shape():
    async def scenario(client: httpx.AsyncClient) -> None:
        for r in (await client.get("/v2/health/ready"), await client.get("/v2/models/fashion/ready"),
                  await client.post("/v2/models/fashion/infer", json={"inputs": [image_input(JPEG)]})):
            assert r.status_code == 503 and r.headers["retry-after"] == "5" and v2_error_of(r)
        assert (await client.get("/v2/health/live")).status_code == 200
    call(scenario, ready=False)


def test_json_inference_goes_to_the_model_as_vertex_instances_with_options():
    async def scenario(client: httpx.AsyncClient) -> None:
        SEEN.clear()
        options = {"name": "options", "datatype": "BYTES", "shape": [1], "data": [json.dumps({"mask_format": "none"})]}
        r = await client.post("/v2/models/fashion/infer", json={
            "id": "r1", "inputs": [image_input(JPEG, JPEG[:50]), options], "parameters": {"max_garments": 3}})
        assert r.status_code == 200 and "inference-header-content-length" not in r.headers
        body = r.json()
        assert body["id"] == "r1" and body["model_name"] == "fashion"
        response, embedding = body["outputs"]
        assert response["shape"] == [2] and json.loads(response["data"][1])["image"]["width"] == 50
        assert embedding == {"name": "embedding", "datatype": "FP32", "shape": [2, 2],
                             "data": pytest.approx([0.6, 0.8, 0.6, 0.8])}
        sent = SEEN[-1]
        assert sent["path"] == "/predictions/fashion"
        assert sent["parameters"] == {"max_garments": 3, "mask_format": "none"}
        assert base64.b64decode(sent["instances"][0]["b64"]) == JPEG
        await client.post(f"/v2/models/{WORKFLOW_MODEL}/infer", json={"inputs": [image_input(JPEG)]})
        assert SEEN[-1]["path"] == registry.WORKFLOW_PATH
    call(scenario)


def test_binary_inference_and_binary_outputs():
    async def scenario(client: httpx.AsyncClient) -> None:
        SEEN.clear()
        content, headers = binary_body([JPEG] * 8, {"parameters": {"binary_data_output": True}})
        r = await client.post("/v2/models/fashion/infer", content=content, headers=headers)
        assert r.status_code == 200, r.text
        size = int(r.headers["inference-header-content-length"])
        head = json.loads(r.content[:size])
        sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
        blob = r.content[size:]
        assert len(blob) == sum(sizes)
        vectors = np.frombuffer(blob[sizes[0]:], dtype="<f4").reshape(head["outputs"][1]["shape"])
        assert vectors.shape == (8, 2) and np.allclose(vectors[:, 1], 0.8)
        first = struct.unpack_from("<I", blob)[0]
        assert json.loads(blob[4:4 + first])["image"]["width"] == len(JPEG)
        assert len(SEEN[-1]["instances"]) == 8
    call(scenario)


def test_an_embedding_only_request_asks_the_model_for_the_embedding_alone():
    async def scenario(client: httpx.AsyncClient) -> None:
        SEEN.clear()
        r = await client.post("/v2/models/fashion/infer", json={
            "inputs": [image_input(JPEG)], "outputs": [{"name": "embedding", "parameters": {"binary_data": False}}]})
        assert [o["name"] for o in r.json()["outputs"]] == ["embedding"]
        assert SEEN[-1]["parameters"] == {"embedding_only": True}
        texts = {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["red dress", "boots"]}
        r = await client.post("/v2/models/embedder/infer", json={"inputs": [texts], "outputs": [{"name": "embedding"}]})
        assert r.json()["outputs"][0]["shape"] == [2, 2] and SEEN[-1]["body"]["text"] == ["red dress", "boots"]
    call(scenario)


def test_bad_images_and_refusals_keep_their_codes_in_v2_shape():
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/v2/models/fashion/infer", json={"inputs": [image_input(b"bad")]})
        assert r.status_code == 400 and "does not decode" in v2_error_of(r)
        r = await client.post("/v2/models/fashion/infer", json={"inputs": [image_input(b"bad", JPEG)]})
        assert r.status_code == 200  # a batch: each image's answer says its own error
        assert "error" in json.loads(r.json()["outputs"][0]["data"][0])
        assert r.json()["outputs"][1]["data"][:2] == [0.0, 0.0]
        r = await client.post("/v2/models/fashion/infer", json={"inputs": [image_input(JPEG)],
                                                                "parameters": {"max_garments": 0}})
        assert r.status_code == 400 and v2_error_of(r) == "max_garments 0"
    call(scenario)


@pytest.mark.parametrize("body,why", [
    (b"not json", "not JSON"),
    (b"{}", "needs 'inputs'"),
    (json.dumps({"inputs": [{"name": "photo", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}]}).encode(),
     "unknown input"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "FP32", "shape": [1], "data": ["eA=="]}]}).encode(),
     "must be BYTES"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2], "data": ["eA=="]}]}).encode(),
     "has shape [2] but 1 elements"),
    (json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [7]}]}).encode(),
     "strings"),
    (json.dumps({"inputs": [image_input(JPEG)], "outputs": [{"name": "masks"}]}).encode(), "no output 'masks'"),
    (json.dumps({"inputs": [image_input(JPEG)], "parameters": {"include": ["garments"]}}).encode(), "lists and"),
])
def test_malformed_requests_are_400s_that_say_why(body, why):
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/v2/models/fashion/infer", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and why in v2_error_of(r), r.text
    call(scenario)


def test_binary_framing_problems_are_400s():
    async def scenario(client: httpx.AsyncClient) -> None:
        content, headers = binary_body([JPEG], {})
        for length in ("0", "abc", str(len(content) + 1)):
            r = await client.post("/v2/models/fashion/infer", content=content,
                                  headers={**headers, "Inference-Header-Content-Length": length})
            assert r.status_code == 400 and "Inference-Header-Content-Length" in v2_error_of(r)
        r = await client.post("/v2/models/fashion/infer", content=content[:-3], headers=headers)
        assert r.status_code == 400 and "binary_data_size" in v2_error_of(r)
        r = await client.post("/v2/models/fashion/infer", content=content + b"xx", headers=headers)
        assert r.status_code == 400 and "belong to no input" in v2_error_of(r)
    call(scenario)


def test_too_large_is_a_413_before_and_after_base64():
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/v2/models/fashion/infer", content=b"x" * 30_000,
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.headers["connection"] == "close" and v2_error_of(r)
        content, headers = binary_body([JPEG[:4] + bytes(8_000)] * 2, {})  # a batch fits, but not as base64
        r = await client.post("/v2/models/fashion/infer", content=content, headers=headers)
        assert r.status_code == 413 and "as base64" in v2_error_of(r)
    call(scenario)


def test_every_public_model_has_v2_routes_and_none_other():
    assert set(V2_MODELS) == {*registry.SERVED, WORKFLOW_MODEL}


def test_one_image_goes_as_a_photo_and_its_answer_comes_back_as_sent():
    """One image travels as /predictions takes a photo (binary: its bytes; JSON or with options: {"b64", options}),
    and its `response` element is the model server's answer byte for byte."""
    async def scenario(client: httpx.AsyncClient) -> None:
        SEEN.clear()
        as_json = {"outputs": [{"name": "response", "parameters": {"binary_data": False}}]}
        content, headers = binary_body([JPEG], as_json)
        r = await client.post("/v2/models/fashion/infer", content=content, headers=headers)
        assert SEEN[-1]["shape"] == "raw" and SEEN[-1]["body"]["b64"] == base64.b64encode(JPEG).decode()
        direct = await fake_torchserve(httpx.Request("POST", "http://torchserve/predictions/fashion", content=JPEG))
        assert r.json()["outputs"][0]["data"] == [direct.content.decode()]
        await client.post("/v2/models/fashion/infer", json={"inputs": [image_input(JPEG)]})
        assert SEEN[-1]["shape"] == "single" and SEEN[-1]["parameters"] == {}
        await client.post("/v2/models/fashion/infer", json={"inputs": [image_input(JPEG)],
                                                            "parameters": {"mask_format": "none"}})
        assert SEEN[-1]["shape"] == "single" and SEEN[-1]["parameters"] == {"mask_format": "none"}
    call(scenario)
