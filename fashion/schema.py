"""The response contract, composed from the registry: the shared parts (fashion/response.base.json) and each
model's own (its stage's `schema`: top-level sections, what it adds to each garment, definitions), with the
models' names. `python -m fashion.schema` prints it; the front door's /openapi.json carries it.
"""
from __future__ import annotations

import copy
import functools
import json
import sys
from pathlib import Path
from typing import Any

from fashion import models as registry

BASE = Path(__file__).with_name("response.base.json")


@functools.cache
def _composed() -> str:
    schema = json.loads(BASE.read_text())
    garment = schema["$defs"]["garment"]
    required = set(schema["required"])
    for stage in registry.stage_classes():
        part = stage.schema
        schema["properties"].update(part.get("sections", {}))
        required.update(part.get("required", ()))
        garment["properties"].update(part.get("garment", {}))
        garment["required"] += [k for k in part.get("garment_required", ()) if k not in garment["required"]]
        schema["$defs"].update(part.get("defs", {}))
    schema["required"] = ["image", *(s for s in registry.SECTION_NAMES if s in required), "models"]
    models = schema["properties"]["models"]
    models["minItems"] = len(registry.NAMES)
    models["items"]["properties"]["name"]["enum"] = list(registry.NAMES)
    return json.dumps(schema)


def response_schema() -> dict[str, Any]:
    """The JSON Schema of one image's response (a fresh copy)."""
    return copy.deepcopy(json.loads(_composed()))


if __name__ == "__main__":
    sys.stdout.write(json.dumps(response_schema(), indent=2) + "\n")
