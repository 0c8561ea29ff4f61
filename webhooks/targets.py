"""Which URLs a webhook may be sent to: no private, loopback, link-local or otherwise internal address (SSRF).

A tenant's endpoint URL is checked when it is registered and again at every attempt, after resolving the
host: a name that resolved to a public address at registration may point inside the network later (DNS
rebinding). The operator can allow internal targets (`AIAAS_WEBHOOK_ALLOW_PRIVATE_TARGETS`), for a
development machine or tests with a receiver on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048


class TargetRefused(ValueError):
    """The URL is malformed or points where webhooks must not go."""


def check_url(url: str) -> str:
    """`url` when it is an absolute http(s) URL with a host; raises `TargetRefused` otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"url longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise TargetRefused("url is not a valid URL") from exc
    if parts.scheme not in {"http", "https"}:
        raise TargetRefused("url must use http or https")
    if not parts.hostname:
        raise TargetRefused("url must name a host")
    if parts.username or parts.password:
        raise TargetRefused("url must not carry credentials")
    return url


def internal(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"host {host!r} does not resolve") from exc
    return sorted({str(info[4][0]) for info in infos})


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse `url` when any address its host resolves to is internal (unless the operator allows that)."""
    check_url(url)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in await resolve(host, port):
        if internal(address):
            raise TargetRefused("url resolves to a private, loopback or link-local address")


async def pinned_request(url: str, *, allow_private: bool) -> tuple[str, dict[str, str], dict[str, str]]:
    """Check `url` and return what to send so the connection goes to the very address that was checked:
    the URL with the host replaced by that address, the `Host` header, and the TLS server name (httpx's
    `sni_hostname` request extension, so the certificate is still verified against the name). Without this,
    the HTTP client would resolve the name again and a rebinding DNS server could answer differently.
    """
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allow_private:
        return url, {}, {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not addresses or any(internal(a) for a in addresses):
        raise TargetRefused("url resolves to a private, loopback or link-local address")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = f"{host}:{parts.port}" if parts.port else host
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions
