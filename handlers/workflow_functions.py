"""The workflow's function nodes: `prepare` (start) and `respond` (join). See export/fashion_workflow.yaml.

TorchServe's /wfpredict can only answer 200 or 500, so a refused request travels as data: the JSON
error object, with its 4xx code inside, is the 200 response body.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

# The .war carries our packages as fashion_pkg.zip beside this file (see export/archive.py).
_BUNDLE = Path(__file__).with_name("fashion_pkg.zip")
if _BUNDLE.is_file() and str(_BUNDLE) not in sys.path:
    sys.path.insert(0, str(_BUNDLE))

from fashion.envelope import Envelope, is_envelope, pack, unpack
from fashion.errors import error_dict
from fashion.options import Options
from fashion.pipeline import finish, merge, prepare as prepare_request
from fashion.response import dumps

log = logging.getLogger(__name__)


def prepare(data: list[dict[str, Any]] | None, context: Any) -> list[bytes] | None:
    """Start node: decode and validate each request's images; pass an envelope on."""
    if data is None:  # TorchServe calls each function once with no data when it loads the node
        return None
    out = []
    for item in data:
        try:
            out.append(pack(prepare_request(item)))
        except Exception as exc:
            log.exception("prepare failed")
            out.append(pack(Envelope("single", Options(), [], error=error_dict(exc))))
    return out


def _branch(item: dict[str, Any], name: str) -> Envelope:
    payload = item.get(name)
    if not is_envelope(payload):
        raise RuntimeError(f"respond: no envelope from node {name!r} (got keys {sorted(item)})")
    return unpack(bytes(payload))


def respond(data: list[dict[str, Any]] | None, context: Any) -> list[bytes] | None:
    """Join node: merge the embedder and attributes branches; encode the response contract's JSON."""
    if data is None:
        return None
    out = []
    for item in data:
        try:
            env = merge(_branch(item, "embedder"), _branch(item, "attributes"))
            payload, _status = finish(env)
        except Exception as exc:
            log.exception("respond failed")
            payload = error_dict(exc)
        out.append(dumps(payload))
    return out
