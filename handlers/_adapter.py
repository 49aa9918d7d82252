"""What every TorchServe handler here shares: TorchServe's context in, envelopes or JSON out."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

import torch

from fashion.envelope import Envelope, is_envelope, pack, unpack
from fashion.errors import error_dict
from fashion.pipeline import finish, prepare
from fashion.response import dumps

log = logging.getLogger(__name__)


def model_dir(context: Any) -> str:
    return context.system_properties.get("model_dir")


def device_for(context: Any) -> torch.device:
    gpu = context.system_properties.get("gpu_id")
    if torch.cuda.is_available() and gpu is not None and os.environ.get("FASHION_DEVICE", "") != "cpu":
        return torch.device(f"cuda:{gpu}")
    return torch.device("cpu")


def set_threads() -> None:
    """Torch threads per worker: FASHION_TORCH_THREADS, else every core (tune with the worker count)."""
    threads = int(os.environ.get("FASHION_TORCH_THREADS", "0") or 0) or os.cpu_count() or 1
    torch.set_num_threads(threads)


def payload_of(item: dict[str, Any]) -> Any:
    return item.get("body", item.get("data"))


def to_envelopes(data: list[dict[str, Any]]) -> tuple[list[Envelope], list[bool]]:
    """Envelopes from a parent workflow node pass through; public requests are decoded here."""
    envs, from_node = [], []
    for item in data:
        payload = payload_of(item)
        if is_envelope(payload):
            envs.append(unpack(bytes(payload)))
            from_node.append(True)
        else:
            envs.append(prepare(item))
            from_node.append(False)
    return envs, from_node


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


def reply(envs: list[Envelope], from_node: list[bool], context: Any) -> list[bytes]:
    """Back to a workflow node as an envelope, or to the client as JSON with a real status code."""
    out = []
    for idx, (env, node) in enumerate(zip(envs, from_node)):
        if node:
            out.append(pack(env))
            continue
        payload, status = finish(env)
        out.append(encode_json(payload, status, idx, context))
    return out


def encode_json(payload: Any, status: int, idx: int, context: Any) -> bytes:
    if status != 200:
        context.set_response_status(status, payload.get("error", {}).get("type", "Error"), idx)
    if hasattr(context, "set_response_content_type"):
        context.set_response_content_type(idx, "application/json")
    return dumps(payload)


class StageHandler:
    """A handler running one pipeline stage; subclasses build `self.stage` in load()."""

    name = "stage"

    def __init__(self) -> None:
        self.initialized = False
        self.stage: Callable[[list[Envelope]], None] | None = None

    def initialize(self, context: Any) -> None:
        set_threads()
        start = time.perf_counter()
        self.load(model_dir(context), device_for(context))
        log.info("%s loaded in %.1fs", self.name, time.perf_counter() - start)
        self.initialized = True

    def load(self, directory: str, device: torch.device) -> None:
        raise NotImplementedError

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        envs, from_node = to_envelopes(data)
        run_isolated(self.stage, envs, self.name)
        return reply(envs, from_node, context)
