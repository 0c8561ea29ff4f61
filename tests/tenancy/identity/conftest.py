"""Fixtures for identity tests: signing keys, a local JWKS server, and two extra gateways with a warm cache.

The suite's platform gateway runs with the auth cache off. Revocation across replicas only means something
with the cache on, so `replicas` starts two more gateway processes on the same stack, each caching
principals for 30 s and verifying JWTs against the JWKS served from this process (never the network).
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.stack.process import ManagedProcess
from tests.e2e.platform import Platform, pick_port, platform_env
from tests.tenancy.conftest import admin_db, admin_url, app_db, fresh_database, two_tenants, urls  # noqa: F401

ISSUER = "https://idp.test.invalid"
AUDIENCE = "aiaas-tests"
REPLICA_SECRET = "replica-hs256-secret-" + "x" * 32


def public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk_of(key: Any, kid: str, alg: str) -> dict[str, Any]:
    return {**json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key())), "kid": kid, "alg": alg}


@dataclass
class Keys:
    rsa: Any
    rsa_other: Any
    ec: Any
    ec_static: Any


@pytest.fixture(scope="session")
def keys() -> Keys:
    def rsa_key() -> Any:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return Keys(
        rsa=rsa_key(),
        rsa_other=rsa_key(),
        ec=ec.generate_private_key(ec.SECP256R1()),
        ec_static=ec.generate_private_key(ec.SECP256R1()),
    )


class JwksServer:
    """Serves `document` at `url`; tests change the document to rotate keys and read `hits`."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="session")
def jwks(keys: Keys) -> Iterator[JwksServer]:
    with JwksServer() as server:
        server.document = {"keys": [jwk_of(keys.rsa, "rsa-1", "RS256"), jwk_of(keys.ec, "ec-1", "ES256")]}
        yield server


@dataclass
class Replicas:
    urls: tuple[str, str]
    data_dir: Path


@pytest.fixture(scope="session")
def replicas(
    platform: Platform,
    jwks: JwksServer,
    keys: Keys,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    data_dir = tmp_path_factory.mktemp("replicas")
    env = platform_env(platform.settings, data_dir)
    env.update(
        {
            "AIAAS_AUTH_CACHE_SECONDS": "30",
            "AIAAS_JWT_SECRET": REPLICA_SECRET,
            "AIAAS_JWT_JWKS_URL": jwks.url,
            "AIAAS_JWT_PUBLIC_KEYS": json.dumps({"static-ec": public_pem(keys.ec_static)}),
            "AIAAS_JWT_ISSUER": ISSUER,
            "AIAAS_JWT_AUDIENCE": AUDIENCE,
            "AIAAS_JWKS_MIN_REFRESH_SECONDS": "0",
        }
    )
    processes: list[ManagedProcess] = []
    bases: list[str] = []
    try:
        for n in (1, 2):
            port = pick_port()
            process = ManagedProcess(
                f"replica-{n}-{uuid.uuid4().hex[:4]}",
                [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
                data_dir=data_dir,
                env=env,
            )
            processes.append(process)
            process.start()
            url = f"http://127.0.0.1:{port}"
            process.wait_ready(lambda url=url: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=60)
            bases.append(url)
        yield Replicas(urls=(bases[0], bases[1]), data_dir=data_dir)
    finally:
        for process in reversed(processes):
            process.stop()
