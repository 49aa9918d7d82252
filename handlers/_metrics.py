"""Custom metrics through TorchServe's metrics API (Prometheus at :8082/metrics with metrics_mode=prometheus):

FashionStageTime (ms, gauge; dimensions Node, Phase = decode | predict | encode): where a batch's time went;
FashionImages (count; Node): images a node processed; FashionGarments (count; Node): garments found, so
garments per image = FashionGarments / FashionImages; FashionErrors (count; Node, Code): refusals by HTTP
code, counted once, by the node that answers the client. Metrics never fail a request.
"""
from __future__ import annotations

import collections
import logging
from typing import Any

from fashion import models as registry
from fashion.results import Envelope

log = logging.getLogger(__name__)
SEGMENTING_NODES = tuple(name for name, m in registry.BY_NAME.items() if m.segments)


def record(context: Any, node: str, envs: list[Envelope], seconds: dict[str, float], answers_client: bool) -> None:
    metrics = getattr(context, "metrics", None)
    if metrics is None:
        return
    try:
        from ts.metrics.dimension import Dimension

        for phase, s in seconds.items():
            metrics.add_time("FashionStageTime", round(s * 1000, 3), None, "ms",
                             [Dimension("Node", node), Dimension("Phase", phase)])
        live = [it for env in envs if env.error is None for it in env.items if it.error is None]
        metrics.add_counter("FashionImages", len(live), None, [Dimension("Node", node)])
        if node in SEGMENTING_NODES:
            garments = sum(len(it.garments) for it in live if it.garments is not None)
            metrics.add_counter("FashionGarments", garments, None, [Dimension("Node", node)])
        if answers_client:
            codes = collections.Counter(e["error"]["code"] for env in envs for e in
                                        ([env.error] if env.error else [it.error for it in env.items if it.error]))
            for code, n in codes.items():
                metrics.add_counter("FashionErrors", n, None, [Dimension("Node", node), Dimension("Code", str(code))])
    except Exception:  # a metrics failure is logged, never a failed request
        log.exception("recording metrics failed")
