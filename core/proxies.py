"""Trusted reverse proxies: whose `X-Forwarded-For` and `X-Forwarded-Proto` the gateway believes.

Behind a load balancer every connection comes from the balancer's address, so per-address allowances (the
edge rate limits, signup limits) would lump all clients together. When the peer is one of the configured
proxies, uvicorn's proxy-headers middleware replaces the peer with the client the proxy names, walking the
`X-Forwarded-For` chain from the right past every trusted hop; from any other peer the headers are ignored,
so a client cannot claim another's address by sending the header itself.

Entries are IP addresses or networks in CIDR form. A wildcard is refused: trusting every peer would let any
client choose its own address, which is what the limits exist to prevent; name the proxies' network.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator


def _check(entries: list[str]) -> list[str]:
    checked = []
    for entry in entries:
        text = entry.strip()
        if text == "*":
            raise ValueError("AIAAS_TRUSTED_PROXIES cannot trust every peer ('*'); name the proxies' network")
        try:
            checked.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"AIAAS_TRUSTED_PROXIES: {text!r} is not an IP address or network") from None
    return checked


TrustedProxies = Annotated[list[str], AfterValidator(_check)]


def uvicorn_proxy_options(trusted: list[str]) -> dict[str, object]:
    """uvicorn's options for the configured proxies: proxy headers only when some proxy is trusted."""
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(trusted)}
