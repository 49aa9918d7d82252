"""Image URLs: every SSRF refusal, pinning, redirects, size and time limits, against a local test server."""
from __future__ import annotations

import http.server
import ipaddress
import threading
import time

import pytest

from fashion.errors import RequestError
from fashion.request.fetch import FetchPolicy, fetch
from fashion.pipeline import decode
from tests.unit.tiny_models import solid_jpeg

PNG = solid_jpeg((10, 200, 30))


class Handler(http.server.BaseHTTPRequestHandler):
    hosts: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}) and "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        Handler.hosts.append(self.headers.get("Host", ""))
        port = self.server.server_address[1]
        routes = {
            "/image.png": lambda: self._send(200, PNG, {"Content-Type": "image/png"}),
            "/to-image": lambda: self._send(302, headers={"Location": "/image.png"}),
            "/to-metadata": lambda: self._send(302, headers={"Location": "http://169.254.169.254/latest/"}),
            "/to-localhost": lambda: self._send(301, headers={"Location": f"http://localhost:{port}/image.png"}),
            "/loop": lambda: self._send(302, headers={"Location": "/loop"}),
            "/missing": lambda: self._send(404, b"no"),
            "/declared-big": lambda: self._send(200, b"x", {"Content-Length": str(50 * 1024 * 1024)}),
            "/slow": self._slow,
            "/streamed-big": self._streamed,
        }
        routes.get(self.path, lambda: self._send(404))()

    def _slow(self) -> None:
        time.sleep(2.5)
        self._send(200, PNG)

    def _streamed(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(40):
            self.wfile.write(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # the client hanging up on /streamed-big is the point of that test


@pytest.fixture(scope="module")
def server():
    srv = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def policy(port: int, **kw) -> FetchPolicy:
    """Enabled, allowed to reach the local test server only (loopback is refused by default)."""
    base = dict(enabled=True, ports=(port, 80, 443), allow_networks=(ipaddress.ip_network("127.0.0.1/32"),),
                timeout_s=1.5, max_bytes=1024 * 1024)
    return FetchPolicy(**(base | kw))


def images_resolver(host: str, port: int) -> list[str]:
    return {"images.example": ["127.0.0.1"], "rebind.example": ["93.184.216.34", "10.0.0.7"],
            "metadata.example": ["169.254.169.254"]}.get(host, [])


def refused(url: str, pol: FetchPolicy, code: int = 400, match: str = "") -> RequestError:
    with pytest.raises(RequestError) as info:
        fetch(url, pol, resolve=images_resolver)
    assert info.value.code == code, info.value.message
    assert match.lower() in info.value.message.lower()
    return info.value


def test_off_by_default():
    assert FetchPolicy.from_env({}).enabled is False
    refused("https://example.com/a.jpg", FetchPolicy(), match="FASHION_URL_INPUT=on")


def test_enabled_by_environment():
    p = FetchPolicy.from_env({"FASHION_URL_INPUT": "on", "FASHION_URL_MAX_BYTES": "1000",
                              "FASHION_URL_ALLOW_NETWORKS": "10.1.0.0/16", "FASHION_URL_PORTS": "443"})
    assert p.enabled and p.max_bytes == 1000 and p.ports == (443,)
    assert ipaddress.ip_address("10.1.2.3") in p.allow_networks[0]


def test_fetches_through_the_pinned_address_with_the_original_host(server):
    Handler.hosts.clear()
    assert fetch(f"http://images.example:{server}/image.png", policy(server), resolve=images_resolver) == PNG
    assert Handler.hosts == [f"images.example:{server}"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost/", "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://metadata.example/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/", "http://[fd00:ec2::254]/",
    "http://224.0.0.1/", "http://rebind.example/"])
def test_private_loopback_link_local_and_metadata_addresses_refused(url):
    resolver = {"localhost": ["127.0.0.1"]}

    def resolve(host: str, port: int) -> list[str]:
        return resolver.get(host) or images_resolver(host, port)

    with pytest.raises(RequestError) as info:
        fetch(url, FetchPolicy(enabled=True), resolve=resolve)
    assert info.value.code == 400 and "public addresses" in info.value.message


@pytest.mark.parametrize("url,match", [
    ("file:///etc/passwd", "only http and https"), ("ftp://example.com/a.jpg", "only http and https"),
    ("gopher://example.com/", "only http and https"), ("http://user:pw@images.example/", "user name"),
    ("http://images.example:22/", "port 22"), ("not a url at all", "only http and https")])
def test_schemes_credentials_and_ports_refused(url, match):
    refused(url, FetchPolicy(enabled=True), match=match)


def test_every_redirect_is_checked_again(server):
    pol = policy(server)
    assert fetch(f"http://127.0.0.1:{server}/to-image", pol, resolve=images_resolver) == PNG
    refused(f"http://127.0.0.1:{server}/to-metadata", pol, match="public addresses")
    no_loopback = policy(server, allow_networks=())
    refused(f"http://images.example:{server}/image.png", no_loopback, match="public addresses")
    refused(f"http://127.0.0.1:{server}/loop", pol, code=422, match="redirected more than 3")


def test_size_limits(server):
    refused(f"http://127.0.0.1:{server}/declared-big", policy(server), code=413, match="limit")
    refused(f"http://127.0.0.1:{server}/streamed-big", policy(server), code=413, match="limit")


def test_time_limit(server):
    start = time.monotonic()
    refused(f"http://127.0.0.1:{server}/slow", policy(server, timeout_s=0.5), code=422, match="within 0.5 s")
    assert time.monotonic() - start < 2.0


def test_http_errors_and_unknown_hosts(server):
    refused(f"http://127.0.0.1:{server}/missing", policy(server), code=422, match="HTTP 404")
    refused("http://nowhere.example/", FetchPolicy(enabled=True), code=422, match="does not resolve")


def test_a_refused_url_does_not_fail_its_neighbours(server):
    pol = policy(server)
    env = decode({"body": [{"url": f"http://127.0.0.1:{server}/image.png"}, {"url": "http://10.0.0.1/x.jpg"}]},
                  pol)
    good, bad = env.items
    assert good.error is None and good.picture.size == (128, 96)
    assert bad.error["error"]["code"] == 400
