"""What every TorchServe handler here shares: TorchServe's context in, envelopes or JSON out.

The same handler serves a model alone (/predictions/<name>: JSON with real status codes) and as a node of
the `fashion` workflow (TorchServe names those models `fashion__<node>`), where it passes an envelope to
the next node or, as the workflow's leaf, encodes the final JSON.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import torch

from fashion.envelope import Envelope, is_envelope, pack, unpack
from fashion.manifest import select_device
from fashion.errors import error_dict
from fashion import pipeline
from fashion.response import dumps
from fashion.samples import synthetic_jpeg
from fashion.threads import worker_threads
from handlers._metrics import record

log = logging.getLogger(__name__)
WARMUP_RUNS = 3


def model_dir(context: Any) -> str:
    return context.system_properties.get("model_dir")


def is_workflow_node(context: Any) -> bool:
    return "__" in (getattr(context, "model_name", None) or "")


def device_for(context: Any) -> torch.device:
    """The worker's device: fashion.manifest.select_device with the GPU TorchServe assigned it (if any)."""
    gpu = context.system_properties.get("gpu_id")
    return select_device(None if gpu is None else int(gpu), any_gpu=False)


def set_threads(in_workflow: bool) -> int:
    """Torch threads for this worker (fashion.threads); the ONNX Runtime and OpenVINO runners take the same."""
    threads = worker_threads(in_workflow)
    torch.set_num_threads(threads)
    return threads


def decode(item: dict[str, Any]) -> Envelope:
    """The parent workflow node's envelope ({"body": envelope}), or a client's request decoded here."""
    payload = item.get("body", item.get("data"))
    return unpack(bytes(payload)) if is_envelope(payload) else pipeline.decode(item)


def run_isolated(stage: Callable[[list[Envelope]], None], envs: list[Envelope], name: str) -> None:
    """Run a stage on the batch; if it fails, rerun per request so one bad request fails alone."""
    try:
        stage(envs)
        return
    except Exception:
        log.exception("%s failed on a batch of %d; retrying one request at a time", name, len(envs))
    for env in envs:
        try:
            stage([env])
        except Exception as exc:
            log.exception("%s failed on one request", name)
            env.error = error_dict(exc)


def encode_json(payload: Any, status: int, idx: int, context: Any) -> bytes:
    if status != 200:
        context.set_response_status(status, payload.get("error", {}).get("type", "Error"), idx)
    if hasattr(context, "set_response_content_type"):
        context.set_response_content_type(idx, "application/json")
    return dumps(payload)


class StageHandler:
    """A handler running one pipeline stage; subclasses build `self.stage` in load()."""

    name = "stage"
    workflow_leaf = False  # the workflow's last node encodes the final JSON instead of passing an envelope

    def __init__(self) -> None:
        self.initialized = False
        self.in_workflow = False
        self.stage: Callable[[list[Envelope]], None] | None = None

    def initialize(self, context: Any) -> None:
        self.in_workflow = is_workflow_node(context)
        threads = set_threads(self.in_workflow)
        start = time.perf_counter()
        self.load(model_dir(context), device_for(context))
        self.warm_up()
        log.info("%s loaded and warmed up in %.1fs (%d torch threads, workflow node: %s)",
                 self.name, time.perf_counter() - start, threads, self.in_workflow)
        self.initialized = True

    def load(self, directory: str, device: torch.device) -> None:
        raise NotImplementedError

    def warm_up(self, runs: int = WARMUP_RUNS) -> None:
        """Backends optimise and allocate on their first calls: pay that at load, not on users' requests."""
        body = synthetic_jpeg()
        for _ in range(runs):
            self.stage([pipeline.decode({"body": body})])

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        start = time.perf_counter()
        envs = [decode(item) for item in data]
        decoded = time.perf_counter()
        self.predict(envs)
        predicted = time.perf_counter()
        out = self.encode(envs, context)
        self.record(context, envs, start, decoded, predicted)
        return out

    def predict(self, envs: list[Envelope]) -> None:
        run_isolated(self.stage, envs, self.name)

    @property
    def answers_client(self) -> bool:
        return not self.in_workflow or self.workflow_leaf

    def record(self, context: Any, envs: list[Envelope], start: float, decoded: float, predicted: float) -> None:
        record(context, self.name, envs, {"decode": decoded - start, "predict": predicted - decoded,
                                          "encode": time.perf_counter() - predicted}, self.answers_client)

    def encode(self, envs: list[Envelope], context: Any) -> list[bytes]:
        """To the next workflow node as an envelope; to the client as JSON (real status codes when alone)."""
        if self.in_workflow and not self.workflow_leaf:
            return [pack(env) for env in envs]
        out = []
        for idx, env in enumerate(envs):
            payload, status = pipeline.encode(env)
            # a workflow node reporting a non-200 status fails the whole workflow call (a flattened 500):
            # as the leaf, the error object (its code inside) is the 200 body
            out.append(encode_json(payload, 200 if self.in_workflow else status, idx, context))
        return out
