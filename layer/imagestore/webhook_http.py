"""Webhook deliveries that are safe to point anywhere: https only (plain http to 127.0.0.1 in the local
stage only), names resolving to private, loopback, link-local or otherwise non-public addresses refused
at registration and at every delivery, the connection made to the address that was checked (no window
for DNS rebinding between the check and the connect), a 10 s deadline for the whole exchange, at most
1 KB of the answer read, redirects never followed."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
MAX_URL_LENGTH = 2048
Resolver = Callable[[str, int], list[str]]


class EndpointRefused(ValueError):
    """A URL (or the addresses its name resolves to) that webhooks must not be sent to."""


@dataclass(frozen=True)
class DeliveryPolicy:
    allow_loopback_http: bool = False  # the local stage: http://127.0.0.1:<port>/...
    timeout_seconds: float = 10.0
    max_answer_bytes: int = 1024


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status: int | None
    error: str | None
    latency_ms: int


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the name resolves to (TCP)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_target(url: str, policy: DeliveryPolicy) -> Target:
    """The URL's parts, or EndpointRefused when its form is not allowed."""
    if len(url) > MAX_URL_LENGTH:
        raise EndpointRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(f"not a URL: {exc}") from exc
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("the URL must not carry credentials")
    if not host:
        raise EndpointRefused("the URL has no host")
    if parts.fragment:
        raise EndpointRefused("the URL must not have a fragment")
    if parts.scheme == "http":
        if not (policy.allow_loopback_http and host == LOOPBACK):
            raise EndpointRefused("the URL must be https (plain http only to 127.0.0.1 on the local stage)")
    elif parts.scheme != "https":
        raise EndpointRefused("the URL must be https")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise EndpointRefused("the URL contains spaces or control characters")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def address_allowed(address: str, target: Target, policy: DeliveryPolicy) -> bool:
    """Only public addresses; 127.0.0.1 only for a plain-http local-stage URL."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if target.scheme == "http":
        return policy.allow_loopback_http and str(ip) == LOOPBACK
    return ip.is_global and not ip.is_multicast


def checked_addresses(target: Target, policy: DeliveryPolicy, resolver: Resolver) -> list[str]:
    """The addresses the target's host resolves to; EndpointRefused if it resolves to none or to any
    address that is not allowed (one private answer among public ones is refused too)."""
    try:
        ipaddress.ip_address(target.host)
        addresses = [target.host]
    except ValueError:
        try:
            addresses = resolver(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise EndpointRefused(f"{target.host} does not resolve") from exc
    if not addresses:
        raise EndpointRefused(f"{target.host} does not resolve")
    refused = [a for a in addresses if not address_allowed(a, target, policy)]
    if refused:
        raise EndpointRefused(f"{target.host} resolves to a private, loopback or link-local address ({refused[0]})")
    return addresses


def check_endpoint_url(url: str, policy: DeliveryPolicy, resolver: Resolver = system_resolver) -> str:
    """Registration: the URL as given when it may receive webhooks, else EndpointRefused."""
    checked_addresses(parse_target(url, policy), policy, resolver)
    return url


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked address; the Host header stays the URL's host."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a checked address, with the URL's host for SNI and certificate verification."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str, body: bytes, headers: dict[str, str], policy: DeliveryPolicy, resolver: Resolver = system_resolver
) -> DeliveryResult:
    """POST body to url within the policy. 2xx is success; anything else (3xx included: redirects are not
    followed), a refused address, a timeout or a connection error is a failure with its reason."""
    started = time.monotonic()

    def result(status: int | None, error: str | None) -> DeliveryResult:
        ok = status is not None and 200 <= status < 300
        return DeliveryResult(ok, status, error, int((time.monotonic() - started) * 1000))

    try:
        target = parse_target(url, policy)
        address = checked_addresses(target, policy, resolver)[0]
    except EndpointRefused as exc:
        return result(None, f"refused: {exc}")
    deadline = started + policy.timeout_seconds
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, address, policy.timeout_seconds)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": "imagestore-webhooks/1",
                "Connection": "close",
            },
        )
        if connection.sock is not None:
            connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
        response = connection.getresponse()
        response.read(policy.max_answer_bytes)  # at most 1 KB of the answer, then the connection is closed
        status = response.status
    except TimeoutError:
        return result(None, f"timeout after {policy.timeout_seconds:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return result(None, f"connection failed: {type(exc).__name__}")
    finally:
        connection.close()
    if time.monotonic() > deadline:
        return result(None, f"timeout after {policy.timeout_seconds:g} s")
    return result(status, None if 200 <= status < 300 else f"answered {status}")
