"""Each provider's signature scheme: published known answers, and accepted, forged, altered, expired, missing."""

from __future__ import annotations

import json

import pytest

from channels import parsing, signatures
from channels.signatures import SignatureRejected

NOW = 1_700_000_000.0


def _code(fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureRejected) as caught:
        fn(*args)
    return caught.value.code


def test_known_answers_from_the_providers_documentation() -> None:
    # Twilio's security guide and Slack's "Verifying requests from Slack" examples.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234", "From": "+14158675309"}
    params["To"] = "+18005551212"
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signatures.twilio_signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signatures.slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body) == expected


def test_twilio() -> None:
    url, params = "https://gw.example/hooks/x/sms", [("Body", "hi"), ("From", "+15551230000"), ("MessageSid", "SM1")]
    good = signatures.twilio_signature("token-1", url, params)
    signatures.verify_twilio("token-1", url, params, good)
    assert _code(signatures.verify_twilio, "token-1", url, params, None) == "signature_missing"
    forged = signatures.twilio_signature("token-2", url, params)
    assert _code(signatures.verify_twilio, "token-1", url, params, forged) == "signature_invalid"
    altered = [("Body", "send me a refund"), *params[1:]]
    assert _code(signatures.verify_twilio, "token-1", url, altered, good) == "signature_invalid"
    assert _code(signatures.verify_twilio, "token-1", url + "?x=1", params, good) == "signature_invalid"


def test_slack() -> None:
    body, ts = b'{"type":"event_callback"}', str(int(NOW))
    good = signatures.slack_signature("secret-1", ts, body)
    signatures.verify_slack("secret-1", body, ts, good, NOW)
    assert _code(signatures.verify_slack, "secret-1", body, ts, None, NOW) == "signature_missing"
    assert _code(signatures.verify_slack, "secret-1", body, None, good, NOW) == "signature_missing"
    forged = signatures.slack_signature("secret-2", ts, body)
    assert _code(signatures.verify_slack, "secret-1", body, ts, forged, NOW) == "signature_invalid"
    assert _code(signatures.verify_slack, "secret-1", body + b" ", ts, good, NOW) == "signature_invalid"
    # A captured request replayed six minutes later is too old, signature and all.
    assert _code(signatures.verify_slack, "secret-1", body, ts, good, NOW + 360) == "timestamp_expired"
    # Moving the timestamp forward breaks the signature.
    late = str(int(NOW) + 360)
    assert _code(signatures.verify_slack, "secret-1", body, late, good, NOW + 360) == "signature_invalid"
    assert _code(signatures.verify_slack, "secret-1", body, "soon", good, NOW) == "signature_invalid"


def test_whatsapp() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    good = signatures.meta_signature("app-secret", body)
    assert good.startswith("sha256=")
    signatures.verify_whatsapp("app-secret", body, good)
    assert _code(signatures.verify_whatsapp, "app-secret", body, None) == "signature_missing"
    forged = signatures.meta_signature("other", body)
    assert _code(signatures.verify_whatsapp, "app-secret", body, forged) == "signature_invalid"
    assert _code(signatures.verify_whatsapp, "app-secret", body.replace(b"w", b"W", 1), good) == "signature_invalid"
    assert _code(signatures.verify_whatsapp, "app-secret", body, good.upper()) == "signature_invalid"


def test_mailgun() -> None:
    ts, token = str(int(NOW)), "a" * 50
    good = signatures.mailgun_signature("key-1", ts, token)
    signatures.verify_mailgun("key-1", ts, token, good, NOW)
    assert _code(signatures.verify_mailgun, "key-1", ts, token, None, NOW) == "signature_missing"
    assert _code(signatures.verify_mailgun, "key-1", ts, None, good, NOW) == "signature_missing"
    forged = signatures.mailgun_signature("key-2", ts, token)
    assert _code(signatures.verify_mailgun, "key-1", ts, token, forged, NOW) == "signature_invalid"
    assert _code(signatures.verify_mailgun, "key-1", ts, "b" * 50, good, NOW) == "signature_invalid"
    assert _code(signatures.verify_mailgun, "key-1", ts, token, good, NOW - 301) == "timestamp_expired"


def test_whatsapp_verify_token_handshake() -> None:
    assert signatures.verify_token_matches("abc", "abc")
    assert not signatures.verify_token_matches("abc", "abd")
    assert not signatures.verify_token_matches("abc", None)


def _whatsapp(messages: list[dict[str, object]]) -> bytes:
    value = {"messaging_product": "whatsapp", "messages": messages}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}).encode()


def test_parsing_reads_messages_and_skips_what_is_not_one() -> None:
    sms = parsing.parse_twilio({"MessageSid": "SM1", "From": "+15551230000", "To": "+15559990000", "Body": "hi"})
    assert (sms.provider_message_id, sms.sender, sms.text, sms.reply_to) == (
        "SM1",
        "+15551230000",
        "hi",
        "+15559990000",
    )
    with pytest.raises(parsing.PayloadRejected):
        parsing.parse_twilio({"From": "+15551230000", "Body": "no sid"})

    challenge = parsing.parse_slack(b'{"type":"url_verification","challenge":"c-123"}')
    assert challenge == parsing.SlackChallenge("c-123")
    event = {"type": "message", "user": "U1", "text": "hello", "channel": "D1"}
    msg = parsing.parse_slack(json.dumps({"type": "event_callback", "event_id": "Ev1", "event": event}).encode())
    assert isinstance(msg, parsing.InboundMessage) and (msg.sender, msg.reply_to) == ("U1", "D1")
    echo = {**event, "bot_id": "B1"}
    assert (
        parsing.parse_slack(json.dumps({"type": "event_callback", "event_id": "Ev2", "event": echo}).encode()) is None
    )
    with pytest.raises(parsing.PayloadRejected) as bad:
        parsing.parse_slack(b"{not json")
    assert bad.value.code == "malformed_json"

    fresh = {"id": "wamid.1", "from": "15551230000", "type": "text", "timestamp": str(int(NOW)), "text": {"body": "yo"}}
    status_only = {"id": "wamid.2", "type": "reaction"}
    found = parsing.parse_whatsapp(_whatsapp([fresh, status_only]), NOW)
    assert [(m.provider_message_id, m.text) for m in found] == [("wamid.1", "yo")]
    stale = {**fresh, "timestamp": str(int(NOW) - 8 * 24 * 3600)}
    with pytest.raises(parsing.PayloadRejected) as old:
        parsing.parse_whatsapp(_whatsapp([stale]), NOW)
    assert old.value.code == "timestamp_expired"

    mail = parsing.parse_mailgun(
        {"Message-Id": "<m1@x>", "sender": "Ada <Ada@Example.com>", "stripped-text": " hi \n", "subject": "Help"}
    )
    assert (mail.sender, mail.text, mail.subject) == ("ada@example.com", "hi", "Help")
