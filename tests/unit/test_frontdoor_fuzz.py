"""The property-based fuzz of the front door (tests/fuzz.py) against a fake TorchServe: requests drawn from its
own OpenAPI description; never a 500, every refusal in the error shape, every answer within 5 s.
FUZZ_EXAMPLES sets how many requests (.ci/run sets CI's)."""
from __future__ import annotations

import os

import httpx

from tests.fuzz import run_fuzz

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def test_fuzz_from_the_openapi_description(door):
    with httpx.Client(base_url=door.url, timeout=10) as client:
        found, seconds = run_fuzz(client, PHOTO, EXAMPLES)
    print(f"fuzz: {EXAMPLES} examples in {seconds:.1f} s, {len(found)} problems")
    assert not found, "\n".join(found[:20])
