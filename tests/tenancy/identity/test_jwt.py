"""JWT verification in process: what is accepted, and every way a token must be refused.

Keys come from the local JWKS server fixture or from static PEMs; nothing touches the network.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from pydantic import ValidationError

from core.settings import JWT_ALGORITHMS, Settings
from tenancy.jwt import JwtConfig, JwtVerifier, dev_secret, issue_token
from tenancy.jwt_keys import load_public_keys

from .conftest import AUDIENCE, ISSUER, JwksServer, Keys, jwk_of, public_pem

SECRET = "unit-test-hs256-secret-" + "s" * 32


def _config(jwks: JwksServer | None = None, **overrides: Any) -> JwtConfig:
    values: dict[str, Any] = {
        "algorithms": frozenset({"HS256", "RS256", "ES256"}),
        "secret": SECRET,
        "jwks_url": jwks.url if jwks else None,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "leeway_seconds": 5.0,
        "jwks_min_refresh_seconds": 0.0,
    }
    values.update(overrides)
    return JwtConfig(**values)


@pytest.fixture
async def verifier(jwks: JwksServer, keys: Keys) -> AsyncIterator[JwtVerifier]:
    config = _config(jwks, public_keys={"static-ec": keys.ec_static.public_key()})
    verifier = JwtVerifier(config)
    yield verifier
    await verifier.close()


def _token(key: Any, algorithm: str = "HS256", kid: str | None = None, **claims: Any) -> str:
    defaults: dict[str, Any] = {"tenant_id": "t-1", "roles": ("viewer",), "issuer": ISSUER, "audience": AUDIENCE}
    defaults.update(claims)
    return issue_token(key, subject=defaults.pop("subject", "user-1"), algorithm=algorithm, kid=kid, **defaults)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_accepts_hs256_rs256_es256_and_a_static_key(verifier: JwtVerifier, keys: Keys) -> None:
    for token in (
        _token(SECRET),
        _token(keys.rsa, "RS256", kid="rsa-1"),
        _token(keys.ec, "ES256", kid="ec-1"),
        _token(keys.ec_static, "ES256", kid="static-ec"),
    ):
        claims = await verifier.verify(token)
        assert claims is not None, jwt.get_unverified_header(token)
        assert (claims.subject, claims.tenant_id, claims.roles) == ("user-1", "t-1", ("viewer",))


async def test_reads_platform_role_and_leaves_absent_claims_none(verifier: JwtVerifier) -> None:
    claims = await verifier.verify(_token(SECRET, tenant_id=None, roles=None, platform_role="platform_operator"))
    assert claims is not None
    assert (claims.tenant_id, claims.roles, claims.platform_role) == (None, None, "platform_operator")


async def test_reads_the_name_claim(verifier: JwtVerifier) -> None:
    named = await verifier.verify(_token(SECRET, extra={"name": "  Pat Lee "}))
    unnamed = await verifier.verify(_token(SECRET, extra={"name": ["Pat"]}))
    assert named is not None and named.name == "Pat Lee"
    assert unnamed is not None and unnamed.name is None


@pytest.mark.parametrize(
    ("extra", "email", "verified"),
    [
        ({"email": "Pat@Example.com", "email_verified": True}, "Pat@Example.com", True),
        # Only a boolean true verifies; anything else leaves the address unverified, never the token refused.
        ({"email": "pat@example.com", "email_verified": "true"}, "pat@example.com", False),
        ({"email": "pat@example.com"}, "pat@example.com", False),
        ({"email": 7, "email_verified": True}, None, False),
        ({"email": "x" * 400, "email_verified": True}, None, False),
        ({}, None, False),
    ],
)
async def test_reads_the_email_claim_and_whether_it_is_verified(
    verifier: JwtVerifier, extra: dict[str, Any], email: str | None, verified: bool
) -> None:
    claims = await verifier.verify(_token(SECRET, extra=extra))
    assert claims is not None and (claims.email, claims.email_verified) == (email, verified)


@pytest.mark.parametrize(
    "change",
    [
        {"ttl_seconds": -120},  # expired, beyond the leeway
        {"not_before_in_seconds": 600},  # not valid yet
        {"audience": "someone-else"},
        {"audience": None},
        {"issuer": "https://evil.test.invalid"},
        {"issuer": None},
        {"subject": ""},
        {"roles": None, "extra": {"roles": "owner"}},  # roles must be a list
        {"tenant_id": None, "extra": {"tenant_id": 7}},
    ],
)
async def test_refuses_bad_claims(verifier: JwtVerifier, change: dict[str, Any]) -> None:
    change = dict(change)
    if "not_before_in_seconds" in change:
        # Reckoned when the test runs, not when the suite is collected: a long suite outlives ten minutes.
        change = {"extra": {"nbf": int(time.time()) + change.pop("not_before_in_seconds")}}
    assert await verifier.verify(_token(SECRET, **change)) is None


async def test_refuses_alg_none(verifier: JwtVerifier) -> None:
    now = int(time.time())
    payload = {"sub": "user-1", "tenant_id": "t-1", "roles": ["owner"], "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}
    for alg in ("none", "None", "NONE"):
        assert await verifier.verify(f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(payload)}.") is None


async def test_refuses_hs_rs_confusion(verifier: JwtVerifier, jwks: JwksServer, keys: Keys) -> None:
    # HS256 signed with the RSA public key as the HMAC secret: the verifier must use its own secret.
    pem = public_pem(keys.rsa).encode()
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    payload = _b64({"sub": "x", "tenant_id": "t-1", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60})
    import hashlib
    import hmac

    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert await verifier.verify(forged) is None
    # And with HMAC off the allow-list (a production setup), the same token is refused before any key.
    strict = JwtVerifier(_config(jwks, algorithms=frozenset({"RS256"}), secret=pem.decode()))
    try:
        assert await strict.verify(forged) is None
        assert await strict.verify(_token(keys.rsa, "RS256", kid="rsa-1")) is not None
    finally:
        await strict.close()


async def test_refuses_a_key_of_the_wrong_family(verifier: JwtVerifier, keys: Keys) -> None:
    # An RS256 header naming the EC key (and vice versa) finds no usable key.
    assert await verifier.verify(_token(keys.ec, "ES256", kid="rsa-1")) is None
    assert await verifier.verify(_token(keys.rsa, "RS256", kid="ec-1")) is None
    assert await verifier.verify(_token(keys.rsa, "RS384", kid="rsa-1")) is None  # not on the allow-list


async def test_refuses_tampering(verifier: JwtVerifier, keys: Keys) -> None:
    token = _token(keys.rsa, "RS256", kid="rsa-1")
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    assert await verifier.verify(f"{header}.{payload}.{flipped}") is None
    elevated = _b64({**jwt.decode(token, options={"verify_signature": False}), "roles": ["owner"]})
    assert await verifier.verify(f"{header}.{elevated}.{signature}") is None
    for garbage in ("", "a.b.c", "x" * 100, token + "."):
        assert await verifier.verify(garbage) is None


async def test_unknown_kid_refetches_then_refuses(verifier: JwtVerifier, jwks: JwksServer, keys: Keys) -> None:
    assert await verifier.verify(_token(keys.rsa, "RS256", kid="rsa-1")) is not None
    before = jwks.hits
    assert await verifier.verify(_token(keys.rsa_other, "RS256", kid="rsa-unknown")) is None
    assert jwks.hits == before + 1


async def test_a_rotated_jwks_is_picked_up_by_kid(verifier: JwtVerifier, jwks: JwksServer, keys: Keys) -> None:
    original = jwks.document
    assert await verifier.verify(_token(keys.rsa, "RS256", kid="rsa-1")) is not None
    try:
        jwks.document = {"keys": [*original["keys"], jwk_of(keys.rsa_other, "rsa-2", "RS256")]}
        assert await verifier.verify(_token(keys.rsa_other, "RS256", kid="rsa-2")) is not None
        # A key the provider declares for RS256 is not used for PS256, although both are RSA.
        assert await verifier.verify(_token(keys.rsa_other, "PS256", kid="rsa-2")) is None
    finally:
        jwks.document = original


async def test_refetches_are_rate_limited(jwks: JwksServer, keys: Keys) -> None:
    limited = JwtVerifier(_config(jwks, jwks_min_refresh_seconds=60.0))
    try:
        assert await limited.verify(_token(keys.rsa, "RS256", kid="rsa-1")) is not None
        before = jwks.hits
        for n in range(20):
            assert await limited.verify(_token(keys.rsa_other, "RS256", kid=f"made-up-{n}")) is None
        assert jwks.hits == before
    finally:
        await limited.close()


async def test_an_unreachable_jwks_refuses_without_raising(keys: Keys) -> None:
    offline = JwtVerifier(_config(jwks_url="http://127.0.0.1:9/jwks.json"), http=httpx.AsyncClient(timeout=0.5))
    try:
        assert await offline.verify(_token(keys.rsa, "RS256", kid="rsa-1")) is None
    finally:
        await offline.close()


def test_settings_refuse_none_and_weak_or_unbound_setups() -> None:
    for algorithms in (["none"], ["HS256", "none"], [], ["EdDSA"]):
        with pytest.raises(ValidationError):
            Settings(jwt_algorithms=algorithms)
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(jwt_secret="short")
    prod = {"env": "prod", "api_key_pepper": "p" * 40, "app_db_password": "pw" * 10}
    with pytest.raises(ValidationError, match="ISSUER"):
        Settings(**prod, jwt_jwks_url="https://idp.example/jwks.json")
    bound = {"jwt_issuer": "https://idp", "jwt_audience": "aiaas"}
    Settings(**prod, **bound, jwt_jwks_url="https://idp.example/jwks.json")
    with pytest.raises(ValidationError, match="https"):
        Settings(**prod, **bound, jwt_jwks_url="http://idp.example/jwks.json")
    assert "none" not in {alg.lower() for alg in JWT_ALGORITHMS}


def test_static_keys_and_the_dev_secret(tmp_path: Any, keys: Keys) -> None:
    assert set(load_public_keys(json.dumps({"a": public_pem(keys.rsa)}))) == {"a"}
    for bad in ("[1]", "{not json", json.dumps({"a": "not a pem"})):
        with pytest.raises(ValueError):
            load_public_keys(bad)
    first = dev_secret(tmp_path)
    assert len(first) >= 32 and dev_secret(tmp_path) == first
    assert (tmp_path / "jwt-dev-secret").stat().st_mode & 0o077 == 0
    prod = Settings(env="prod", api_key_pepper="p" * 40, app_db_password="pw" * 10, data_dir=tmp_path / "prod")
    assert JwtConfig.from_settings(prod).secret is None
