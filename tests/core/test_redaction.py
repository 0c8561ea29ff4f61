"""PII detection precise enough that operational data survives: what must be found, and what must stay."""

from __future__ import annotations

import pytest

from core.redaction import find, luhn_valid, redact_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("write to jane.doe@example.com", "write to [email]"),
        ("call +1 415 555 0100", "call [phone]"),
        ("call +1 (415) 555-0100 today", "call [phone] today"),
        ("+44 20 7946 0958", "[phone]"),
        ("+4915112345678", "[phone]"),
        ("(415) 555-0100", "[phone]"),
        ("415-555-0100", "[phone]"),
        ("415 555 0100", "[phone]"),
        ("020 7946 0958", "[phone]"),
        ("card 4111 1111 1111 1111", "card [number]"),
        ("card 5500-0000-0000-0004 ok", "card [number] ok"),
        ("4111111111111111", "[number]"),
        ("key ak_abcdefghijkl_" + "x" * 40, "key [secret]"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: [secret]"),
        ("+1 415 555 0100 or 4111 1111 1111 1111", "[phone] or [number]"),
    ],
)
def test_personal_data_is_found(raw: str, expected: str) -> None:
    assert redact_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "order 12345 took 1234 ms",
        "at 2026-11-26T07:13:22Z id 388d8e73-e493-425e-a5e3-864bbe4f1c55",
        "2026-12-06 08:00:00",
        "limit_usd 100.000000",
        "1500000.00",
        "spent 12345678.123456 usd",
        "amount=1234.56 cents=123456",
        "tokens 1234567",
        "epoch 1733472000000",
        # Sixteen digits that fail the Luhn check are not a card.
        "4111111111111112",
        "ip 10.0.0.1 port 5432",
        "version 1.2.3",
        "mac 00-1B-63-84-45-E6",
        "order o-4155550100",
        # A bare run of digits is as often an id as a phone number; only phone-shaped text is redacted.
        "ref 4155550100",
        "short 555-0100",
    ],
)
def test_operational_data_stays(raw: str) -> None:
    assert redact_text(raw) == raw


def test_findings_carry_their_kind_and_span() -> None:
    text = "mail a@b.co or call +1 415 555 0100"
    found = find(text)
    assert [(f.kind, text[f.start : f.end]) for f in found] == [("email", "a@b.co"), ("phone", "+1 415 555 0100")]


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")
