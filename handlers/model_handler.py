"""TorchServe handler for every registry model (fashion/models.py) and the ensemble: which one, its archive says.

Alone (/predictions/<model>) it answers JSON with real status codes; as a workflow node it passes an envelope on,
and the last node of the chain (fashion.models.RUN_ORDER) encodes the response. The chain's first node also
hands off (fashion.request.handoff): where that is cheaper, the next models' input pixels travel on instead of the
upload.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from fashion import models as registry
from fashion import pipeline
from fashion.envelope import pack
from fashion.request.handoff import Downstream
from fashion.results import Envelope
from fashion.response import encode
from fashion.samples import synthetic_jpeg
from handlers._adapter import (device_for, is_workflow_node, model_dir, receive, run_isolated, send_json,
                               served_name, set_threads)
from handlers._metrics import record

log = logging.getLogger(__name__)
WARMUP_RUNS = 3


class ModelHandler:
    def __init__(self) -> None:
        self.initialized = False
        self.name = ""
        self.in_workflow = False
        self.leaf = True  # answers the client (alone, or the workflow's last node)
        self.stage: Any = None
        self.downstream: Downstream | None = None

    def initialize(self, context: Any) -> None:
        self.name = served_name(context)
        spec = registry.spec(self.name)
        self.in_workflow = is_workflow_node(context)
        self.leaf = not self.in_workflow or self.name == registry.RUN_ORDER[-1]
        threads = set_threads(self.in_workflow)
        start = time.perf_counter()
        self.stage = spec.stage_class().load(model_dir(context), device_for(context))
        if self.in_workflow and self.name == registry.RUN_ORDER[0]:  # the chain's first node hands off
            self.downstream = Downstream.load(model_dir(context))
        self.warm_up()
        log.info("%s loaded and warmed up in %.1fs (%d torch threads, workflow node: %s)",
                 self.name, time.perf_counter() - start, threads, self.in_workflow)
        self.initialized = True

    def warm_up(self, runs: int = WARMUP_RUNS) -> None:
        """Backends optimise and allocate on their first calls: pay that at load, not on users' requests."""
        body = synthetic_jpeg()
        for _ in range(runs):
            self.stage.run([pipeline.decode({"body": body})])

    def run(self, envs: list[Envelope]) -> None:
        self.stage.run(envs)
        if self.downstream is not None:
            pipeline.hand_off(envs, self.downstream)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[bytes]:
        start = time.perf_counter()
        envs = [receive(item) for item in data]
        decoded = time.perf_counter()
        run_isolated(self.run, envs, self.name)
        predicted = time.perf_counter()
        out = self.send(envs, context)
        record(context, self.name, envs, {"decode": decoded - start, "predict": predicted - decoded,
                                          "encode": time.perf_counter() - predicted}, self.leaf)
        return out

    def send(self, envs: list[Envelope], context: Any) -> list[bytes]:
        """To the next workflow node as an envelope; to the client as JSON (real status codes when alone)."""
        if not self.leaf:
            return [pack(env) for env in envs]
        out = []
        for idx, env in enumerate(envs):
            payload, status = encode(env)
            # a workflow node reporting a non-200 status fails the whole workflow call (a flattened 500):
            # as the leaf, the error object (its code inside) is the 200 body
            out.append(send_json(payload, 200 if self.in_workflow else status, idx, context))
        return out
