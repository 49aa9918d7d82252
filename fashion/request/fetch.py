"""Image URLs, fetched safely: off unless enabled; http(s) only; public addresses only; pinned; bounded.

SSRF defences, in order, for the URL and again for every redirect it answers with:
- scheme http or https, a host name, no user:password, port in ALLOWED_PORTS unless configured otherwise;
- the host is resolved ONCE; every address it resolves to must be public (no private, loopback, link-local
  (cloud metadata 169.254.169.254 among them), multicast, reserved, unspecified or shared addresses, IPv4
  mapped in IPv6 included), unless inside FASHION_URL_ALLOW_NETWORKS;
- the connection goes to that checked address (no second lookup a DNS rebinding could change), with the
  original Host header and TLS SNI/certificate check for the host name;
- a redirect is followed by hand (at most max_redirects), through the same checks;
- the body is streamed and refused past max_bytes; the whole fetch has one deadline.

Configuration (environment of the TorchServe workers): FASHION_URL_INPUT=on enables it;
FASHION_URL_MAX_BYTES (default 20 MB), FASHION_URL_TIMEOUT_S (5), FASHION_URL_MAX_REDIRECTS (3),
FASHION_URL_ALLOW_NETWORKS (comma-separated CIDRs that may be fetched although private, e.g. an intranet
image store), FASHION_URL_PORTS (comma-separated; default 80,443,8080,8443).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import ipaddress
import os
import socket
import time
from typing import Callable
from urllib.parse import urljoin

import httpx

from fashion.request.codec import ImageURL
from fashion.errors import InvalidInput, PayloadTooLarge, RequestError, Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_PORTS = (80, 443, 8080, 8443)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not covered by is_private


class URLRefused(InvalidInput):
    """The URL is not one this server will fetch (scheme, host, address, port)."""


@dataclasses.dataclass(frozen=True)
class FetchPolicy:
    enabled: bool = False
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 5.0
    max_redirects: int = 3
    ports: tuple[int, ...] = ALLOWED_PORTS
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "FetchPolicy":
        env = dict(os.environ if env is None else env)
        networks = tuple(ipaddress.ip_network(n.strip(), strict=False)
                         for n in env.get("FASHION_URL_ALLOW_NETWORKS", "").split(",") if n.strip())
        ports = tuple(int(p) for p in env.get("FASHION_URL_PORTS", "").split(",") if p.strip()) or ALLOWED_PORTS
        return cls(enabled=env.get("FASHION_URL_INPUT", "off").strip().lower() in ("1", "on", "true", "yes"),
                   max_bytes=int(env.get("FASHION_URL_MAX_BYTES", cls.max_bytes)),
                   timeout_s=float(env.get("FASHION_URL_TIMEOUT_S", cls.timeout_s)),
                   max_redirects=int(env.get("FASHION_URL_MAX_REDIRECTS", cls.max_redirects)),
                   ports=ports, allow_networks=networks)

    def check_address(self, ip: IPAddress) -> None:
        if any(ip in n for n in self.allow_networks):
            return
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or (ip.version == 4 and ip in _SHARED)):
            raise URLRefused(f"the URL's host resolves to {ip}, a private, loopback, link-local or reserved "
                             "address; only public addresses are fetched")


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise Unprocessable(f"the URL's host {host!r} does not resolve") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _checked_target(url: httpx.URL, policy: FetchPolicy, resolve: Resolver) -> tuple[httpx.URL, str]:
    """(the URL rewritten to a checked IP address, the host name) or URLRefused."""
    if url.scheme not in ("http", "https"):
        raise URLRefused(f"only http and https URLs are fetched, not {url.scheme or 'a relative URL'!r}")
    if not url.host:
        raise URLRefused("the URL has no host")
    if url.userinfo:
        raise URLRefused("URLs with a user name or password are not fetched")
    port = url.port or (443 if url.scheme == "https" else 80)
    if port not in policy.ports:
        raise URLRefused(f"port {port} is not fetched; allowed ports: {list(policy.ports)}")
    try:
        literal = ipaddress.ip_address(url.host)
        addresses = [str(literal)]
    except ValueError:
        addresses = resolve(url.host, port)
    if not addresses:
        raise Unprocessable(f"the URL's host {url.host!r} does not resolve")
    for a in addresses:  # every address must pass: a mixed answer is a rebinding trick
        policy.check_address(ipaddress.ip_address(a.split("%")[0]))
    return url.copy_with(host=addresses[0]), url.host


def fetch(raw_url: str, policy: FetchPolicy, resolve: Resolver = system_resolver) -> bytes:
    """The image bytes at raw_url, or a RequestError saying why not."""
    if not policy.enabled:
        raise InvalidInput("image URLs are not fetched by this server (URL input is off; the operator can "
                           "enable it with FASHION_URL_INPUT=on); send the image bytes or base64 instead")
    if not isinstance(raw_url, str) or len(raw_url) > 4096:
        raise InvalidInput("'url' must be a string of at most 4096 characters")
    deadline = time.monotonic() + policy.timeout_s
    url = raw_url
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _ in range(policy.max_redirects + 1):
            try:
                parsed = httpx.URL(url)
            except (httpx.InvalidURL, ValueError):
                raise InvalidInput("'url' is not a valid URL") from None
            target, host = _checked_target(parsed, policy, resolve)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            host_header = host if parsed.port is None else f"{host}:{parsed.port}"
            try:
                with client.stream("GET", target, headers={"Host": host_header, "Accept": "image/*"},
                                   timeout=httpx.Timeout(remaining),
                                   extensions={"sni_hostname": host} if parsed.scheme == "https" else {}) as r:
                    if r.is_redirect and "location" in r.headers:
                        url = urljoin(str(parsed), r.headers["location"])
                        continue
                    if r.status_code != 200:
                        raise Unprocessable(f"fetching the URL answered HTTP {r.status_code}")
                    return _read(r, policy, deadline)
            except RequestError:
                raise
            except httpx.TimeoutException:
                break
            except httpx.HTTPError as exc:
                raise Unprocessable(f"the URL could not be fetched ({type(exc).__name__})") from None
        else:
            raise Unprocessable(f"the URL redirected more than {policy.max_redirects} times")
    raise Unprocessable(f"the URL was not fetched within {policy.timeout_s:g} s")


def _read(response: httpx.Response, policy: FetchPolicy, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise PayloadTooLarge(f"the URL's image is {int(declared)} bytes; the limit is {policy.max_bytes}")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > policy.max_bytes:
            raise PayloadTooLarge(f"the URL's image is over the {policy.max_bytes}-byte limit")
        if time.monotonic() > deadline:
            raise Unprocessable(f"the URL was not fetched within {policy.timeout_s:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


MAX_FETCHES = 8  # image URLs fetched at once per request


@functools.lru_cache(maxsize=1)
def url_policy() -> FetchPolicy:
    """The workers' policy, read from their environment once."""
    return FetchPolicy.from_env()


def fetch_images(images: list, policy: FetchPolicy) -> list:
    """A request's images with every ImageURL replaced by its bytes or its RequestError (concurrently)."""
    urls = [i for i, im in enumerate(images) if isinstance(im, ImageURL)]
    if not urls:
        return images

    def one(url: str) -> bytes | RequestError:
        try:
            return fetch(url, policy)
        except RequestError as exc:
            return exc
        except Exception as exc:  # never a crashed worker: an unexpected failure is this image's 422
            return Unprocessable(f"the URL could not be fetched ({type(exc).__name__})")

    out = list(images)
    with concurrent.futures.ThreadPoolExecutor(min(MAX_FETCHES, len(urls))) as pool:
        for i, result in zip(urls, pool.map(one, [images[i].url for i in urls])):
            out[i] = result
    return out
