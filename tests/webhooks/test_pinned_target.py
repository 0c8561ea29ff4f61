"""The attempt connects to the address the SSRF check approved, not to a second resolution of the name."""

from __future__ import annotations

import pytest

from webhooks import targets
from webhooks.targets import TargetRefused, pinned_request


async def test_the_checked_address_is_what_the_request_goes_to(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    monkeypatch.setattr(targets, "resolve", rebinding)
    url, headers, extensions = await pinned_request("https://hooks.example.com:8443/in?x=1", allow_private=False)
    assert url == "https://93.184.215.14:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}, "TLS still verifies the name"
    # The next resolution rebinds to loopback: refused, never sent.
    with pytest.raises(TargetRefused):
        await pinned_request("https://hooks.example.com:8443/in", allow_private=False)


async def test_ipv6_literals_are_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def v6(host: str, port: int) -> list[str]:
        return ["2606:2800:220:1:248:1893:25c8:1946"]

    monkeypatch.setattr(targets, "resolve", v6)
    url, headers, extensions = await pinned_request("http://hooks.example.com/in", allow_private=False)
    assert url == "http://[2606:2800:220:1:248:1893:25c8:1946]/in"
    assert headers == {"Host": "hooks.example.com"} and extensions == {}
