"""Signup tokens (signed, expiring, bound to one run) and the applicant checks (syntax, disposable domains)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from tenancy.signup_checks import SignupRefused, check_applicant, is_disposable
from tenancy.signup_tokens import SignupToken, TokenExpired, TokenInvalid, email_digest, issue, verify

SECRET = "s3cret-for-tests-only-0123456789"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TOKEN = SignupToken(email_digest="d" * 40, nonce="n" * 32, expires_at=NOW + timedelta(hours=24))


def test_a_token_round_trips_and_names_its_run() -> None:
    got = verify(SECRET, issue(SECRET, TOKEN), now=NOW)
    assert got == TOKEN


def test_expired_token_is_refused_as_expired_not_invalid() -> None:
    text = issue(SECRET, TOKEN)
    verify(SECRET, text, now=TOKEN.expires_at - timedelta(seconds=1))
    with pytest.raises(TokenExpired):
        verify(SECRET, text, now=TOKEN.expires_at)


def _resign_payload(text: str, **changes: object) -> str:
    version, body, mac = text.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{version}.{forged}.{mac}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _resign_payload(t, d="e" * 40),  # another signup's run
        lambda t: _resign_payload(t, e=int((NOW + timedelta(days=300)).timestamp())),  # a later expiry
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the signature itself
        lambda t: "v2" + t[2:],
        lambda t: t.replace(".", "", 1),
        lambda t: "",
        lambda t: t + "." + "x" * 600,
    ],
)
def test_tampered_or_malformed_tokens_are_invalid(tamper: object) -> None:
    with pytest.raises(TokenInvalid):
        verify(SECRET, tamper(issue(SECRET, TOKEN)), now=NOW)  # type: ignore[operator]


def test_a_token_under_another_secret_is_invalid() -> None:
    with pytest.raises(TokenInvalid):
        verify("another-secret-0123456789abcdef", issue(SECRET, TOKEN), now=NOW)


def test_email_digest_is_keyed_and_normalised() -> None:
    assert email_digest(SECRET, " Ada@Example.COM ") == email_digest(SECRET, "ada@example.com")
    assert email_digest(SECRET, "ada@example.com") != email_digest("other-secret-0123456789", "ada@example.com")
    assert "ada" not in email_digest(SECRET, "ada@example.com")


def test_applicant_is_normalised() -> None:
    got = check_applicant("  Acme GmbH ", "Ada.Lovelace@Example.COM")
    assert (got.company, got.email, got.domain) == ("Acme GmbH", "Ada.Lovelace@example.com", "example.com")


@pytest.mark.parametrize(
    ("company", "email", "code"),
    [
        ("Acme", "not-an-address", "invalid_email"),
        ("Acme", "ada@", "invalid_email"),
        ("Acme", "ada@localhost", "invalid_email"),
        ("Acme", "a" * 250 + "@example.com", "invalid_email"),
        ("Acme", "ada@mailinator.com", "disposable_email"),
        ("Acme", "ada@inbox.mailinator.com", "disposable_email"),
        ("Acme", "ada@10minutemail.com", "disposable_email"),
        ("   ", "ada@example.com", "invalid_company"),
        ("Acme\x00", "ada@example.com", "invalid_company"),
    ],
)
def test_refusals_say_which_rule(company: str, email: str, code: str) -> None:
    with pytest.raises(SignupRefused) as refused:
        check_applicant(company, email)
    assert refused.value.code == code


def test_ordinary_domains_are_not_disposable() -> None:
    assert not is_disposable("example.com") and not is_disposable("mail.google.com")
