"""The SSRF check of webhook targets, `Retry-After` parsing and status classification, and two-secret signing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from activities.webhooks import classify, retry_after_seconds
from contracts.webhooks import AttemptOutcome
from webhooks.signing import new_secret, signed_headers
from webhooks.targets import TargetRefused, check_target, internal


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost:9/",
        "ftp://93.184.215.14/",
        "http://user:pw@93.184.215.14/",
        "http://93.184.215.14:99999/",
    ],
)
async def test_internal_or_malformed_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await check_target(url, allow_private=False)


async def test_public_targets_pass_and_the_operator_may_allow_loopback() -> None:
    await check_target("https://93.184.215.14/hooks", allow_private=False)
    await check_target("http://127.0.0.1:8080/hooks", allow_private=True)
    assert internal("100.64.0.1") and not internal("8.8.8.8")


def test_retry_after_and_classification() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:10:00 GMT", now) == 600.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None
    assert classify(204) == AttemptOutcome.DELIVERED
    assert classify(410) == AttemptOutcome.GONE
    assert classify(301) == classify(429) == classify(500) == AttemptOutcome.RETRY


def test_both_secrets_sign_during_a_rotation() -> None:
    old, new = new_secret(), new_secret()
    assert old.startswith("whsec_") and old != new
    body = b'{"type":"invoice.paid"}'
    headers = signed_headers("msg_1", datetime.now(UTC), body, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "invoice.paid"}
