"""The Open Inference Protocol (KServe v2) against the real pipeline, called with Triton's clients (tritonclient.http
and tritonclient.grpc, through client.v2): health, metadata, one photo, a batch of 8, binary data and JSON, embeddings
only, a bad image, a too-large message; every answer equal to /predictions/fashion's for the same photos (the
contract's sections, embeddings cosine >= 0.9999). Then the gRPC port's hostile checks: fuzzed calls, raw bytes,
a stalled connection beside a good call."""
from __future__ import annotations

import base64
import os
import socket
import time

import httpx
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from client import v2
from fashion import models as registry
from tests.compare import assert_same_response
from tests.grpc_fuzz import RAW_CASES, fuzz_model_infer, live, send_raw_grpc

COSINE = 0.9999
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_E2E_EXAMPLES", "150"))
WAYS = [("grpc", True), ("rest", True), ("rest", False)]  # (transport, binary)


def address(server, transport: str) -> str:
    return server.grpc if transport == "grpc" else server.inference.removeprefix("http://")


def predictions(server, photo: bytes, path: str = "/predictions/fashion") -> dict:
    r = server.post(path, content=photo, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text[:300]
    return r.json()


def same(answer: dict, row: np.ndarray, expected: dict) -> None:
    assert set(answer) == set(expected)
    assert_same_response(answer, expected, cosine=COSINE)
    assert float(np.dot(row, expected["embedding"])) >= COSINE


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_health_and_metadata(server, transport):
    client = v2.connect(address(server, transport), transport)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("fashion") and client.is_model_ready("fashion-workflow", registry.ARCHIVE_VERSION)
    meta = (client.get_model_metadata("fashion", as_json=True) if transport == "grpc" else
            client.get_model_metadata("fashion"))
    assert [t["name"] for t in meta["inputs"]] == ["image", "options"]
    assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [("response", "BYTES"), ("embedding", "FP32")]
    with pytest.raises(InferenceServerException):
        client.get_model_metadata("fashion__segmenter")


@pytest.mark.parametrize("transport,binary", WAYS)
def test_one_photo_answers_as_predictions_does(server, street_photos, transport, binary):
    photo = street_photos[5].read_bytes()
    client = v2.connect(address(server, transport), transport)
    got = v2.infer(client, transport, [photo], binary=binary)
    assert len(got.responses) == 1 and got.embeddings.shape == (1, len(got.responses[0]["embedding"]))
    same(got.responses[0], got.embeddings[0], predictions(server, photo))


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_batch_of_8_with_parameters(server, street_photos, transport):
    photos = [p.read_bytes() for p in street_photos[:8]]
    client = v2.connect(address(server, transport), transport)
    got = v2.infer(client, transport, photos, parameters={"mask_format": "none"})
    assert len(got.responses) == 8 and got.embeddings.shape[0] == 8
    for photo, answer, row in zip(photos, got.responses, got.embeddings):
        r = server.post("/predictions/fashion", json={"instances": [{"b64": base64.b64encode(photo).decode()}],
                                                      "parameters": {"mask_format": "none"}})
        same(answer, row, r.json()["predictions"][0])
        assert all("mask" not in g for g in answer["garments"])


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_the_workflow_and_embeddings_only(server, street_photos, transport):
    photo = street_photos[3].read_bytes()
    client = v2.connect(address(server, transport), transport)
    flow = v2.infer(client, transport, [photo], model="fashion-workflow")
    same(flow.responses[0], flow.embeddings[0], predictions(server, photo, "/wfpredict/fashion"))
    only = v2.infer(client, transport, [photo], embeddings_only=True)
    assert only.responses == [] and only.embeddings.shape == flow.embeddings.shape
    r = server.post("/predictions/fashion", json={"instances": [{"b64": base64.b64encode(photo).decode()}],
                                                  "parameters": {"embedding_only": True}})
    assert float(np.dot(only.embeddings[0], r.json()["predictions"][0]["embedding"])) >= COSINE


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_bad_image_and_a_too_large_message(server, street_photos, transport):
    client = v2.connect(address(server, transport), transport)
    with pytest.raises(InferenceServerException) as bad:
        v2.infer(client, transport, [b"<html>not an image</html>"])
    assert "image" in bad.value.message().lower()
    mixed = v2.infer(client, transport, [b"<html>not an image</html>", street_photos[1].read_bytes()])
    assert "error" in mixed.responses[0] and "garments" in mixed.responses[1]
    assert not mixed.embeddings[0].any() and mixed.embeddings[1].any()
    too_large = bytes(65 * 1024 * 1024)  # over MAX_REQUEST_BYTES (64 MiB)
    if transport == "grpc":
        with pytest.raises(InferenceServerException) as big:
            v2.infer(client, transport, [too_large])
        assert big.value.status() == "StatusCode.RESOURCE_EXHAUSTED", big.value.message()
    else:  # the REST client may see the connection close before it has sent it all: check the answer itself
        r = httpx.post(server.inference + "/v2/models/fashion/infer", content=too_large, timeout=60,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]
    assert v2.infer(client, transport, [street_photos[1].read_bytes()]).responses[0]["garments"] is not None


def test_the_grpc_port_under_hostile_clients(server, street_photos):
    photo = street_photos[2].read_bytes()
    problems = fuzz_model_infer(server.grpc, photo, FUZZ_EXAMPLES)
    host, port = server.grpc.rsplit(":", 1)
    for name, payload in RAW_CASES.items():
        if (took := send_raw_grpc(host, int(port), payload)) > 5:
            problems.append(f"raw {name}: {took:.1f} s")
    stalled = [socket.create_connection((host, int(port)), timeout=5) for _ in range(20)]
    try:
        for sock in stalled:  # half a preface, then nothing
            sock.sendall(b"PRI * HTTP/2.0\r\n")
        client = v2.connect(server.grpc, "grpc")
        begin = time.monotonic()
        got = v2.infer(client, "grpc", [photo])
        if time.monotonic() - begin > 10 or not got.responses[0]["garments"]:
            problems.append(f"a good call beside 20 stalled connections took {time.monotonic() - begin:.1f} s")
    finally:
        for sock in stalled:
            sock.close()
    assert live(server.grpc)
    assert httpx.get(server.health, timeout=10).status_code == 200
    assert not problems, "\n".join(problems[:20])
