"""Photos through the Open Inference Protocol (KServe v2) with Triton's own clients, over REST or gRPC: each photo's
answer (the contract's JSON) and the embeddings as one [n, d] array. tritonclient is not a dependency of the
package: `pip install "tritonclient[http,grpc]"` (the tests, the benchmark and the README use this module)."""
from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, Literal, Sequence

import numpy as np

Transport = Literal["rest", "grpc"]


@dataclasses.dataclass(frozen=True)
class V2Answer:
    responses: list[dict[str, Any]]  # one per photo, as /predictions/<model> answers it (empty: embeddings only)
    embeddings: np.ndarray | None  # float32 [n, d]; a photo that failed has a row of zeros


def _triton(transport: Transport) -> Any:
    try:
        if transport == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as exc:
        raise RuntimeError('the v2 client needs Triton\'s client: pip install "tritonclient[http,grpc]"') from exc
    return module


def connect(address: str, transport: Transport, timeout_s: float = 300) -> Any:
    """A Triton client for host:port (gRPC: the front door's FASHION_GRPC_PORT, 8001; REST: its HTTP port)."""
    triton = _triton(transport)
    if transport == "grpc":
        return triton.InferenceServerClient(address)
    return triton.InferenceServerClient(address, connection_timeout=timeout_s, network_timeout=timeout_s)


def infer(client: Any, transport: Transport, photos: Sequence[bytes], model: str = "fashion",
          parameters: dict[str, Any] | None = None, embeddings_only: bool = False, binary: bool = True,
          timeout_s: float = 300) -> V2Answer:
    """One infer call with the photos as the BYTES tensor "image": raw bytes over gRPC and REST's binary_data; in
    REST's JSON (binary=False) each photo is a base64 string, as the front door reads JSON data."""
    triton = _triton(transport)
    image = triton.InferInput("image", [len(photos)], "BYTES")
    in_json = transport == "rest" and not binary
    data = np.array([base64.b64encode(p) if in_json else p for p in photos], dtype=np.object_)
    names = ["embedding"] if embeddings_only else ["response", "embedding"]
    if transport == "grpc":
        image.set_data_from_numpy(data)
        outputs = [triton.InferRequestedOutput(n) for n in names]
        result = client.infer(model, [image], outputs=outputs, parameters=parameters, client_timeout=timeout_s)
    else:
        image.set_data_from_numpy(data, binary_data=binary)
        outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in names]
        result = client.infer(model, [image], outputs=outputs, parameters=parameters)
    responses = result.as_numpy("response")
    return V2Answer([json.loads(r) for r in responses] if responses is not None else [],
                    result.as_numpy("embedding"))
