"""8 concurrent clients: every request answered, no lost-response stall. Security defaults hold."""
from __future__ import annotations

import re

import httpx
import pytest

from bench.load import run_load
from tests.conftest import ROOT


@pytest.mark.parametrize("endpoint", ["/wfpredict/fashion", "/predictions/fashion"])
def test_eight_clients_no_stall(server, street_photos, endpoint):
    result = run_load(f"{server.inference}{endpoint}", street_photos[3].read_bytes(), clients=8, per_client=25)
    assert result.statuses == [200] * 200
    slowest = max(result.latencies)
    print(f"{endpoint}: median {result.median:.2f}s p95 {result.percentile(95):.2f}s max {slowest:.2f}s "
          f"throughput {result.throughput:.2f}/s")
    assert slowest <= 3 * result.median, f"a stalled response: {slowest:.1f}s vs median {result.median:.1f}s"


def test_registration_from_urls_is_refused(server):
    for path in ("/workflows", "/models"):
        r = httpx.post(f"{server.management}{path}", params={"url": "https://example.com/evil.war"}, timeout=30)
        assert r.status_code >= 400
    assert httpx.get(f"{server.management}/workflows/fashion", timeout=30).status_code == 200


def test_config_listens_on_loopback_only():
    config = (ROOT / "config.properties").read_text()
    for key in ("inference_address", "management_address", "metrics_address"):
        assert re.search(rf"^{key}=http://127\.0\.0\.1:\d+$", config, re.M), key
    for key in ("grpc_inference_address", "grpc_management_address"):
        assert re.search(rf"^{key}=127\.0\.0\.1$", config, re.M), key
    assert re.search(r"^enable_model_api=false$", config, re.M)


def _non_loopback_address() -> str | None:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_apis_are_not_reachable_on_other_addresses(server):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    for url in (server.management, server.inference, server.metrics):
        port = url.rsplit(":", 1)[1]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{address}:{port}/", timeout=5)
