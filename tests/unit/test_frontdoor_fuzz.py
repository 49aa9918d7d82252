"""The property-based fuzz of the front door (tests/fuzz.py) against a fake TorchServe: requests drawn from its
own OpenAPI description; never a 500, every refusal in the error shape, every answer within 5 s.
FUZZ_EXAMPLES sets how many requests (.ci/run sets CI's)."""
from __future__ import annotations

import os
import time

import httpx
from hypothesis import HealthCheck, given, settings

from tests.fuzz import problem, requests, send

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def test_fuzz_from_the_openapi_description(door):
    with httpx.Client(base_url=door.url, timeout=10) as client:
        spec = client.get("/openapi.json").json()
        found: list[str] = []
        start = time.monotonic()

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(request=requests(spec, PHOTO))
        def fuzz(request):
            r, seconds = send(client, request)
            if (why := problem(r, seconds)) is not None:
                found.append(f"{request['method']} {request['url']} {request['params']}: {why}")

        fuzz()
        print(f"fuzz: {EXAMPLES} examples in {time.monotonic() - start:.1f} s, {len(found)} problems")
    assert not found, "\n".join(found[:20])
