"""The container image, started as Vertex AI starts it (`make test-image`; needs podman or docker and a built image).

AIP_HTTP_PORT / AIP_PREDICT_ROUTE / AIP_HEALTH_ROUTE set to values that are not the defaults; a read-only root
filesystem with a tmpfs on /tmp; once with the image's own archives (no AIP_STORAGE_URI) and once with
AIP_STORAGE_URI naming a mounted folder of archives. Health answers 503 until the pipeline answers, then 200;
predictions follow the contract, over KServe v2 too (REST, and gRPC on 8001, with Triton's clients); 413 over
1.5 MB; hostile input gets its 4xx; `stop` ends it within 10 s.
Figures (time to healthy, memory at idle, stop time) are printed for BENCHMARKS.md.
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from launcher import torchserve as ts
from tests.conftest import STREET

ENGINE = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker") or "podman"
IMAGE = os.environ.get("FASHION_IMAGE", "fashion-serve:cpu")
PORT_INSIDE = 8089  # not the default 8080: the entrypoint must follow AIP_HTTP_PORT
PREDICT_ROUTE, HEALTH_ROUTE = "/v1/endpoints/123/deployedModels/456:predict", "/v1/healthz"
HEALTHY_WITHIN_S = 600


def engine(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ENGINE, *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module", autouse=True)
def image_exists():
    if engine("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail(f"no image {IMAGE}: run `make image` first ({ENGINE})")


class Container:
    def __init__(self, name: str, port: int, grpc_port: int) -> None:
        self.name, self.base, self.grpc = name, f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"
        self.health_seen: list[int | None] = []
        self.healthy_after_s = 0.0

    def logs(self) -> str:
        r = engine("logs", self.name, check=False)
        return (r.stdout + r.stderr)[-4000:]


def start(extra: list[str]) -> Container:
    port, grpc_port = ts.spare_ports(2)
    name = f"fashion-test-{uuid.uuid4().hex[:8]}"
    engine("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{PORT_INSIDE}", "-p", f"127.0.0.1:{grpc_port}:8001",
           "--read-only", "--tmpfs", "/tmp:rw,size=4g,mode=1777",
           "-e", f"AIP_HTTP_PORT={PORT_INSIDE}", "-e", f"AIP_PREDICT_ROUTE={PREDICT_ROUTE}",
           "-e", f"AIP_HEALTH_ROUTE={HEALTH_ROUTE}", *extra, IMAGE)
    box = Container(name, port, grpc_port)
    begin = time.monotonic()
    while time.monotonic() - begin < HEALTHY_WITHIN_S:
        state = engine("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
        if state != "true":
            pytest.fail(f"the container stopped while starting:\n{box.logs()}")
        try:
            box.health_seen.append(httpx.get(box.base + HEALTH_ROUTE, timeout=10).status_code)
        except httpx.HTTPError:
            box.health_seen.append(None)
        if box.health_seen[-1] == 200:
            box.healthy_after_s = time.monotonic() - begin
            return box
        time.sleep(2)
    pytest.fail(f"not healthy after {HEALTHY_WITHIN_S} s (health answered {set(box.health_seen)}):\n{box.logs()}")


def stop(box: Container) -> float:
    begin = time.monotonic()
    engine("stop", "-t", "10", box.name, timeout=60)
    took = time.monotonic() - begin
    engine("rm", "-f", box.name, check=False)
    return took


def idle_memory(box: Container) -> str:
    return engine("stats", "--no-stream", "--format", "{{.MemUsage}}", box.name, check=False).stdout.strip()


def check_contract(box: Container) -> None:
    photo = sorted(STREET.glob("*.jpg"))[5].read_bytes()
    r = httpx.post(box.base + PREDICT_ROUTE, timeout=300, json={
        "instances": [{"b64": base64.b64encode(photo).decode()}], "parameters": {"mask_format": "none"}})
    assert r.status_code == 200, r.text[:300]
    prediction = r.json()["predictions"][0]
    assert {"image", "garments", "embedding", "metadata", "models"} <= set(prediction)
    too_big = httpx.post(box.base + PREDICT_ROUTE, timeout=60, json={"instances": [{"b64": "A" * 1_600_000}]})
    assert too_big.status_code == 413 and "dedicated endpoint" in too_big.json()["error"]["message"]
    for path in ("/wfpredict/fashion", "/predictions/fashion"):
        raw = httpx.post(box.base + path, content=photo, timeout=300,  # what curl --data-binary sends
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert raw.status_code == 200 and "garments" in raw.json(), (path, raw.text[:300])
        hostile = httpx.post(box.base + path, content=b"<html>not an image</html>", timeout=60)
        assert hostile.status_code == 415 and hostile.json()["error"]["code"] == 415, (path, hostile.text[:200])
        nested = httpx.post(box.base + path, content=b"[" * 50_000, timeout=60,
                            headers={"Content-Type": "application/json"})
        # the front door's JSON bounds refuse it before parsing (fashion.request.json_bounds: a 413 naming the limit)
        assert nested.status_code == 413 and "MAX_JSON" in nested.json()["error"]["message"], (path, nested.text[:200])


def check_v2(box: Container) -> None:
    """The Open Inference Protocol with Triton's clients, over REST on the HTTP port and gRPC on 8001: answers equal
    /predictions/fashion's; a bad image keeps its error."""
    from tritonclient.utils import InferenceServerException

    from client import v2
    from tests.compare import assert_same_response

    photo = sorted(STREET.glob("*.jpg"))[5].read_bytes()
    expected = httpx.post(box.base + "/predictions/fashion", content=photo, timeout=300).json()
    for transport, where in (("rest", box.base.removeprefix("http://")), ("grpc", box.grpc)):
        client = v2.connect(where, transport)
        assert client.is_server_ready() and client.is_model_ready("fashion")
        got = v2.infer(client, transport, [photo])
        assert_same_response(got.responses[0], expected, cosine=0.9999)
        assert float(np.dot(got.embeddings[0], expected["embedding"])) >= 0.9999
        with pytest.raises(InferenceServerException):
            v2.infer(client, transport, [b"<html>not an image</html>"])


def test_image_as_vertex_starts_it():
    """No AIP_STORAGE_URI: the image's own archives (the case that never became healthy before)."""
    box = start([])
    try:
        assert 503 in box.health_seen, box.health_seen  # not healthy before the pipeline answers
        check_contract(box)
        check_v2(box)
        user = engine("exec", box.name, "id", "-u").stdout.strip()
        assert user == "10001", user
        writable = engine("exec", box.name, "touch", "/app/x", check=False)
        assert writable.returncode != 0  # the root filesystem is read-only
        time.sleep(5)
        memory = idle_memory(box)
    finally:
        took = stop(box)
    print(f"\nimage {IMAGE}: healthy after {box.healthy_after_s:.0f} s; memory at idle {memory}; "
          f"stopped in {took:.1f} s")
    assert took < 10, f"stop took {took:.1f} s"
    leftover = engine("ps", "-a", "--filter", f"name={box.name}", "--format", "{{.Names}}").stdout.strip()
    assert not leftover


def _index(folder: Path) -> list[list[float]]:
    """A small catalogue index of fixed random vectors (no models needed to build or query it)."""
    import numpy as np

    from catalogue.index import CatalogueIndex

    vectors = np.random.default_rng(0).normal(size=(20, 256)).astype(np.float32).tolist()
    index = CatalogueIndex.open_or_create(folder, 256, None)
    index.add_rows([{"id": f"p{i}", "status": "ok", "embedding": v, "garments": []} for i, v in enumerate(vectors)])
    index.save()
    return vectors


def test_image_with_storage_uri(tmp_path):
    """AIP_STORAGE_URI names a mounted folder of archives (here: the image's own, copied out)."""
    archives = tmp_path / "archives"
    holder = f"fashion-copy-{uuid.uuid4().hex[:8]}"
    engine("create", "--name", holder, IMAGE)
    try:
        engine("cp", f"{holder}:/app/model_store", str(archives), timeout=300)
    finally:
        engine("rm", "-f", holder, check=False)
    assert sorted(p.name for p in Path(archives).iterdir()) == [
        "attributes.mar", "embedder.mar", "fashion.mar", "fashion.war", "segmenter.mar"]
    index = _index(archives / "index")  # /search serves AIP_STORAGE_URI/index
    for f in [archives, *archives.rglob("*")]:
        os.chmod(f, 0o755 if f.is_dir() else 0o644)
    box = start(["-v", f"{archives}:/mnt/archives:ro", "-e", "AIP_STORAGE_URI=/mnt/archives"])
    try:
        photo = sorted(STREET.glob("*.jpg"))[7].read_bytes()
        r = httpx.post(box.base + "/wfpredict/fashion", content=photo, timeout=300)
        assert r.status_code == 200 and "garments" in r.json()
        assert "AIP_STORAGE_URI" in engine("exec", box.name, "env").stdout
        found = httpx.post(box.base + "/search", json={"vector": index[3], "k": 2}, timeout=60)
        assert found.status_code == 200 and found.json()["hits"][0]["id"] == "p3", found.text[:300]
        assert found.json()["index"]["products"] == len(index)
        page = httpx.get(box.base + "/", timeout=30)
        assert page.status_code == 200 and "Fashion garments" in page.text
        assert httpx.get(box.base + "/web/app.js", timeout=30).status_code == 200
    finally:
        took = stop(box)
    print(f"\nwith AIP_STORAGE_URI: healthy after {box.healthy_after_s:.0f} s; stopped in {took:.1f} s")
    assert took < 10
