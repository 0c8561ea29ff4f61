"""What authentication costs per request, in process, against the real Postgres and Redis of the dev stack.

Times `ApiKeyAuthenticator.authenticate` for an API key (served from the principal cache, and looked up in
the database every time), and for JWTs signed HS256 and RS256 (public key from a JWKS served locally and
cached after the first fetch), each with the principal cache off so every call verifies the signature and
checks the tenant in the database. Also times cache invalidation across two subscribers: publish on Redis ->
the other subscriber has dropped the entry.

A console session signed in through the identity provider re-verifies its ID token and decides its claims on
every request (`api.session_auth.id_token_principal`): timed against the API's own RS256 JWT path, and the
session's Redis read (one GETEX for a key session; GETEX plus an EXPIRE capping it at the token's expiry for
an ID token session) against each other. A session with a refresh token is read as every request reads it
(`api.session_auth.live_entry`: the read, then `tenancy.oidc_sessions.current` deciding whether the ID token is
due for renewal; not due here, as on all but one request per token lifetime), and printed as a ratio of the
plain key session's read, the two timed in turn in the same loop.

    python -m benchmarks.auth_overhead --iterations 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate import migrate
from tenancy.auth import ApiKeyAuthenticator
from tenancy.auth_cache import InvalidationListener, PrincipalCache, publish_invalidation
from tenancy.jwt import JwtConfig, JwtVerifier, issue_token
from tenancy.oidc import OidcClient
from tenancy.oidc_sessions import current
from tenancy.tenants import create_tenant
from tenancy.web_sessions import SessionEntry, WebSessions

HS_SECRET = "benchmark-hs256-secret-" + "b" * 32


def _percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return {"p50_us": statistics.median(samples) * 1e6, "p99_us": q[98] * 1e6, "n": len(samples)}


async def _time(call: Callable[[], Awaitable[object]], iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        assert await call() is not None
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - started)
        assert result is not None
    return samples


async def _interleaved(
    calls: dict[str, Callable[[], Awaitable[object]]], iterations: int, warmup: int
) -> dict[str, list[float]]:
    """Each call timed in turn, round after round, so a burst of load on a shared machine hits all alike."""
    for _ in range(warmup):
        for call in calls.values():
            assert await call() is not None
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(iterations):
        for name, call in calls.items():
            started = time.perf_counter()
            result = await call()
            samples[name].append(time.perf_counter() - started)
            assert result is not None
    return samples


def _serve_jwks(document: dict[str, Any]) -> tuple[ThreadingHTTPServer, str]:
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


async def _invalidation_latency(redis_url: str, rounds: int) -> list[float]:
    """Publish from one client; time until a listener on another connection has dropped the entry."""
    cache = PrincipalCache(60)
    dropped = asyncio.Event()

    def forget(**target: str | None) -> None:
        cache.forget(**target)
        if target:
            dropped.set()

    publisher, subscriber = Redis.from_url(redis_url), Redis.from_url(redis_url)
    samples = []
    try:
        async with InvalidationListener(subscriber, forget):
            for _ in range(rounds):
                dropped.clear()
                started = time.perf_counter()
                await publish_invalidation(publisher, key_id=str(uuid.uuid4()))
                await asyncio.wait_for(dropped.wait(), 1.0)
                samples.append(time.perf_counter() - started)
    finally:
        await publisher.aclose()
        await subscriber.aclose()
    return samples


async def _measure(settings: Settings, iterations: int, warmup: int) -> dict[str, dict[str, float]]:
    admin_url = settings.database_url or ""
    await migrate(admin_url, settings.app_db_password.get_secret_value())
    pepper = settings.api_key_pepper.get_secret_value()
    tenant = await create_tenant(admin_url, name=f"bench {uuid.uuid4().hex[:6]}", pepper=pepper)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    server, jwks_url = _serve_jwks({"keys": [{**jwk, "kid": "bench", "alg": "RS256"}]})
    claims: dict[str, Any] = {"subject": "bench-user", "tenant_id": tenant.tenant_id, "roles": ("developer",)}
    hs_token = issue_token(HS_SECRET, **claims)
    rs_token = issue_token(rsa_key, algorithm="RS256", kid="bench", **claims)
    id_token = issue_token(rsa_key, algorithm="RS256", kid="bench", audience="bench-console", **claims)

    db = Database(settings.resolved_app_database_url(), pool_size=4)
    cached = ApiKeyAuthenticator(db, pepper, cache_seconds=3600)
    uncached = ApiKeyAuthenticator(db, pepper, cache_seconds=0)
    verifier = JwtVerifier(JwtConfig(algorithms=frozenset({"HS256", "RS256"}), secret=HS_SECRET, jwks_url=jwks_url))
    uncached.use_jwt(verifier)
    cached.use_jwt(verifier)
    oidc = OidcClient(
        settings.model_copy(update={"oidc_client_id": "bench-console", "jwt_issuer": "http://idp"}), verifier
    )
    redis = Redis.from_url(settings.redis_url or "")
    sessions = WebSessions(redis, ttl_seconds=3600)
    key_session = await sessions.open(tenant.api_key)
    token_session = await sessions.open_entry(SessionEntry(id_token, kind="oidc", expires_at=time.time() + 3000))
    refresh_entry = SessionEntry(id_token, kind="oidc", expires_at=time.time() + 3000, refresh_token="rt-" + "r" * 40)
    refresh_session = await sessions.open_entry(refresh_entry)

    async def refreshable_session_read() -> object:
        entry = await sessions.entry(refresh_session)
        assert entry is not None and entry.refresh_token is not None
        return await current(sessions, oidc, refresh_session, entry)

    async def id_token_session() -> object:
        signed_in = await oidc.verify(id_token)
        return await uncached.resolve_claims(id_token, signed_in.claims)

    results: dict[str, dict[str, float]] = {}
    try:
        cases: dict[str, Callable[[], Awaitable[object]]] = {
            "api key, cached": lambda: cached.authenticate(tenant.api_key),
            "api key, uncached": lambda: uncached.authenticate(tenant.api_key),
            "jwt HS256, uncached": lambda: uncached.authenticate(hs_token),
            "jwt RS256, uncached (JWKS cached)": lambda: uncached.authenticate(rs_token),
            "jwt HS256, signature only": lambda: verifier.verify(hs_token),
            "jwt RS256, signature only": lambda: verifier.verify(rs_token),
            "jwt RS256, cached": lambda: cached.authenticate(rs_token),
            "console ID token, uncached": id_token_session,
            "session read, key": lambda: sessions.entry(key_session),
            "session read, ID token": lambda: sessions.entry(token_session),
            "session read, ID token + refresh": refreshable_session_read,
        }
        for name, call in cases.items():
            results[name] = _percentiles(await _time(call, iterations, warmup))
        side_by_side = await _interleaved(
            {
                "interleaved: session read, key": cases["session read, key"],
                "interleaved: session read, ID token + refresh": refreshable_session_read,
            },
            iterations,
            warmup,
        )
        results.update({name: _percentiles(samples) for name, samples in side_by_side.items()})
        results["invalidation publish -> dropped"] = _percentiles(
            await _invalidation_latency(settings.redis_url or "", min(iterations, 500))
        )
    finally:
        await cached.close()
        await uncached.close()
        await verifier.close()
        await oidc.close()
        await redis.aclose()
        await db.close()
        server.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    with throwaway_stack("aiaas-bench-auth-") as settings:
        results = asyncio.run(_measure(settings, args.iterations, args.warmup))
    print(f"authentication overhead per call, {args.iterations} calls each after {args.warmup} warm-up calls")
    for name, stats in results.items():
        print(f"{name:<48} p50={stats['p50_us']:9.1f} us  p99={stats['p99_us']:9.1f} us")
    plain = results["interleaved: session read, key"]
    refreshable = results["interleaved: session read, ID token + refresh"]
    for quantile in ("p50_us", "p99_us"):
        ratio = refreshable[quantile] / plain[quantile]
        print(f"session read with refresh bookkeeping / plain (interleaved), {quantile[:3]}: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
