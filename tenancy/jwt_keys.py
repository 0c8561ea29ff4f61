"""The keys a bearer JWT is checked with: the algorithm families, public keys from settings, and a JWKS.

Public keys come from settings (`AIAAS_JWT_PUBLIC_KEYS`, key id -> PEM) or from a JWKS URL, cached and
refetched at a bounded rate when a token names a key id the gateway has not seen. A key verifies only the
algorithms of its own family and curve (`key_fits`), and a JWKS key meant for encryption never verifies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

log = logging.getLogger(__name__)

HMAC = frozenset({"HS256", "HS384", "HS512"})
RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVES: Mapping[str, type[ec.EllipticCurve]] = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
# Signed with the provider's private key: what an ID token must use (an HMAC one would be checked against
# the API's own secret, which the provider does not hold).
ASYMMETRIC = RSA | frozenset(EC_CURVES)


def load_public_keys(raw: str) -> dict[str, Any]:
    """`{"kid": "-----BEGIN PUBLIC KEY-----..."}` -> key objects; raises ValueError on anything else."""
    if not raw.strip():
        return {}
    try:
        pems = json.loads(raw)
        if not isinstance(pems, dict):
            raise ValueError("expected a JSON object of key id -> PEM")
        return {str(kid): load_pem_public_key(str(pem).encode()) for kid, pem in pems.items()}
    except (ValueError, TypeError) as exc:
        raise ValueError(f"AIAAS_JWT_PUBLIC_KEYS is not a JSON object of key id -> PEM public key: {exc}") from exc


class KeySet:
    """The signing keys of a JWKS document, fetched on demand and cached.

    A failed fetch keeps the keys already known, so an identity provider outage only affects tokens signed
    with keys the gateway has never seen.
    """

    def __init__(self, url: str, http: httpx.AsyncClient, cache_seconds: float, min_refresh_seconds: float) -> None:
        self._url = url
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        # key id -> (the algorithm the key declares, if any; the public key)
        self._keys: dict[str, tuple[str | None, Any]] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str, algorithm: str) -> Any | None:
        loaded_at = self._loaded_at
        if loaded_at is None or time.monotonic() - loaded_at >= self._cache_seconds or kid not in self._keys:
            await self._refresh()
        declared, key = self._keys.get(kid, (None, None))
        return key if declared in (None, algorithm) else None

    async def _refresh(self) -> None:
        # One fetch at a time; whoever waited for it finds the fresh keys and does not fetch again.
        async with self._lock:
            now = time.monotonic()
            if self._attempted_at is not None and now - self._attempted_at < self._min_refresh_seconds:
                return
            self._attempted_at = now
            try:
                response = await self._http.get(self._url)
                response.raise_for_status()
                keys = signing_keys(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("could not fetch the JWKS from %s: %s", self._url, type(exc).__name__)
                return
            self._keys = keys
            self._loaded_at = now


def signing_keys(document: Any) -> dict[str, tuple[str | None, Any]]:
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("a JWKS document needs a `keys` list")
    found: dict[str, tuple[str | None, Any]] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        # Keys meant for encryption (`use: enc`) never verify a signature.
        if not isinstance(kid, str) or entry.get("use") not in (None, "sig"):
            continue
        try:
            key = jwt.PyJWK(entry).key
        except jwt.PyJWTError:
            continue  # a key type we cannot use; the others still count
        alg = entry.get("alg")
        found[kid] = (alg if isinstance(alg, str) else None, key)
    return found


def key_fits(algorithm: str, key: Any) -> bool:
    if algorithm in RSA:
        return isinstance(key, rsa.RSAPublicKey)
    curve = EC_CURVES.get(algorithm)
    return curve is not None and isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, curve)
