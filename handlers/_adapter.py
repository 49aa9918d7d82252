"""What the model handler needs from TorchServe: its context in, envelopes or JSON out.

The same handler serves a model alone (/predictions/<name>: JSON with real status codes) and as a node of the
workflow (TorchServe names those models `<workflow>__<node>`), where it passes an envelope to the next node or, as
the workflow's last node, encodes the final JSON.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import torch

from fashion import models as registry
from fashion import pipeline
from fashion.envelope import is_envelope, unpack
from fashion.errors import error_dict
from fashion.manifest import select_device
from fashion.results import Envelope
from fashion.response import dumps
from fashion.threads import quiet_pools, worker_threads

log = logging.getLogger(__name__)


def model_dir(context: Any) -> str:
    return context.system_properties.get("model_dir")


def is_workflow_node(context: Any) -> bool:
    return (getattr(context, "model_name", None) or "").startswith(registry.NODE_PREFIX)


def served_name(context: Any) -> str:
    """The registry model an archive holds: the name it was archived under (its MANIFEST.json), else the name
    TorchServe registered it as, less the workflow's node prefix."""
    archived = ((getattr(context, "manifest", None) or {}).get("model") or {}).get("modelName")
    if archived in registry.BY_NAME:
        return archived
    return (getattr(context, "model_name", None) or "").removeprefix(registry.NODE_PREFIX)


def device_for(context: Any) -> torch.device:
    """The worker's device: fashion.manifest.select_device with the GPU TorchServe assigned it (if any)."""
    gpu = context.system_properties.get("gpu_id")
    return select_device(None if gpu is None else int(gpu), any_gpu=False)


def set_threads(in_workflow: bool) -> int:
    """Torch threads for this worker (fashion.threads); the ONNX Runtime and OpenVINO runners take the same. numpy's
    BLAS and OpenCV get one (fashion.threads.quiet_pools)."""
    threads = worker_threads(in_workflow)
    torch.set_num_threads(threads)
    quiet_pools()
    return threads


def receive(item: dict[str, Any]) -> Envelope:
    """The previous workflow node's envelope ({"body": envelope}), or a client's request decoded here."""
    payload = item.get("body", item.get("data"))
    return unpack(bytes(payload)) if is_envelope(payload) else pipeline.decode(item)


def run_isolated(run: Callable[[list[Envelope]], None], envs: list[Envelope], name: str) -> None:
    """Run a stage on the batch; if it fails, rerun per request so one bad request fails alone."""
    try:
        run(envs)
        return
    except Exception:
        log.exception("%s failed on a batch of %d; retrying one request at a time", name, len(envs))
    for env in envs:
        try:
            run([env])
        except Exception as exc:
            log.exception("%s failed on one request", name)
            env.error = error_dict(exc)


def send_json(payload: Any, status: int, idx: int, context: Any) -> bytes:
    if status != 200:
        context.set_response_status(status, payload.get("error", {}).get("type", "Error"), idx)
    if hasattr(context, "set_response_content_type"):
        context.set_response_content_type(idx, "application/json")
    return dumps(payload)
