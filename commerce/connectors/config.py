"""Each tenant's connector choice per external system, and the HTTP connectors' signing secrets at rest.

A tenant with no row for a system uses the sandbox. An HTTP connector's signing secret is sealed with
AES-256-GCM under the tenant's own data key (the keyring of `core.crypto`, so a key rotation or crypto-shred of
the tenant covers it too) and bound to tenant and system by the associated data: a ciphertext copied into
another tenant's or system's row does not open. Nothing here ever hands the secret to the API layer.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from commerce.constants import (
    CONNECTOR_SYSTEMS,
    DEFAULT_CONNECTOR_TIMEOUT_SECONDS,
    MAX_CONNECTOR_TIMEOUT_SECONDS,
)
from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretBox as CoreSecretBox
from core.crypto.secretbox import SecretUnavailable, build_keyring
from db.database import Database, run_sql
from tenancy.audit import record_event

__all__ = ["SecretBox", "SecretUnavailable", "build_keyring"]

MAX_URL_CHARS = 500
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 256
CONNECTOR_SECRET_PURPOSE = "aiaas-connector-secret/v1"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_PATH = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


@dataclass(frozen=True)
class ConnectorSetting:
    """A system's configuration as the API shows it: never the secret, only whether one is stored."""

    system: str
    kind: str = "sandbox"
    base_url: str | None = None
    has_secret: bool = False
    timeout_seconds: float = DEFAULT_CONNECTOR_TIMEOUT_SECONDS
    updated_at: datetime | None = None


@dataclass(frozen=True)
class HttpTarget:
    base_url: str
    secret: str
    timeout_seconds: float

    def __repr__(self) -> str:
        return f"HttpTarget({self.base_url!r}, timeout_seconds={self.timeout_seconds})"


class SecretBox(CoreSecretBox):
    """The connectors' box: secrets bound to tenant and system."""

    def __init__(self, keyring: Keyring) -> None:
        super().__init__(keyring, purpose=CONNECTOR_SECRET_PURPOSE)


def validate_base_url(url: str, *, allow_private: bool) -> str:
    """The URL normalised (`scheme://host[:port][/path]`, no trailing slash), or ValueError saying why not.

    Refused always: other schemes, credentials, queries, fragments, link-local, multicast and unspecified
    addresses (cloud metadata services live there). Loopback and private addresses and plain http only where
    `allow_private` (dev and test, whose services run on this machine).
    """
    if not isinstance(url, str) or not 1 <= len(url) <= MAX_URL_CHARS:
        raise ValueError(f"base_url must be 1 to {MAX_URL_CHARS} characters")
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise ValueError("base_url must be printable ASCII without spaces")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ValueError("base_url must be an http(s) URL")
    if parts.scheme == "http" and not allow_private:
        raise ValueError("base_url must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("base_url must not carry credentials")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("base_url must not have a query or fragment")
    if not _PATH.fullmatch(parts.path) or "/../" in parts.path + "/" or "/./" in parts.path + "/":
        raise ValueError("base_url has an invalid path")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("base_url has an invalid port") from None
    host = (parts.hostname or "").lower()
    _check_host(host, allow_private=allow_private)
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _check_host(host: str, *, allow_private: bool) -> None:
    if not host:
        raise ValueError("base_url must name a host")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host) or host.replace(".", "").isdigit():
            raise ValueError("base_url has an invalid host name") from None
        if (host == "localhost" or host.endswith(".localhost")) and not allow_private:
            raise ValueError("base_url must not point at this machine") from None
        return
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        raise ValueError("base_url must not point at a link-local, multicast or reserved address")
    if (address.is_loopback or address.is_private) and not allow_private:
        raise ValueError("base_url must not point at a private or loopback address")


_SELECT = (
    "SELECT system, kind, base_url, secret_ciphertext IS NOT NULL AS has_secret, timeout_seconds, updated_at "
    "FROM connector_configs"
)


async def list_settings(db: Database, tenant_id: str) -> list[ConnectorSetting]:
    """All three systems, the sandbox default where the tenant configured nothing."""
    async with db.tenant_session(tenant_id) as session:
        rows = {row.system: row for row in await run_sql(session, _SELECT)}
    return [_setting(rows[s]) if s in rows else ConnectorSetting(system=s) for s in CONNECTOR_SYSTEMS]


async def load_http_targets(db: Database, box: SecretBox, tenant_id: str) -> dict[str, HttpTarget | SecretUnavailable]:
    """The tenant's HTTP connectors with their secrets opened; a secret that does not open is reported, not raised."""
    async with db.tenant_session(tenant_id) as session:
        rows = (
            await run_sql(
                session,
                "SELECT system, base_url, secret_ciphertext, timeout_seconds "
                "FROM connector_configs WHERE kind = 'http'",
            )
        ).all()
    targets: dict[str, HttpTarget | SecretUnavailable] = {}
    for row in rows:
        try:
            secret = await box.open(tenant_id, row.system, row.secret_ciphertext)
        except SecretUnavailable as exc:
            targets[row.system] = exc
            continue
        targets[row.system] = HttpTarget(str(row.base_url), secret, float(row.timeout_seconds))
    return targets


async def save_setting(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    system: str,
    *,
    kind: str,
    base_url: str | None = None,
    secret: str | None = None,
    timeout_seconds: float = DEFAULT_CONNECTOR_TIMEOUT_SECONDS,
    actor: str | None = None,
) -> ConnectorSetting:
    """Store a system's configuration. An HTTP one keeps its stored secret when none is given; ValueError when
    it has none (or for arguments that do not fit, checked here too so no caller can skip them). With an `actor`,
    the change is audited in the same transaction: where calls go now, and whether the secret changed."""
    if system not in CONNECTOR_SYSTEMS or kind not in ("sandbox", "http"):
        raise ValueError("unknown system or kind")
    if not 0 < timeout_seconds <= MAX_CONNECTOR_TIMEOUT_SECONDS:
        raise ValueError(f"timeout_seconds must be above 0 and at most {MAX_CONNECTOR_TIMEOUT_SECONDS:g}")
    if secret is not None and not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
        raise ValueError(f"secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters")
    sealed = await box.seal(tenant_id, system, secret) if kind == "http" and secret is not None else None
    if kind == "http" and not base_url:
        raise ValueError("an http connector needs a base_url")
    async with db.tenant_session(tenant_id) as session:
        # Serialises writers of this tenant's row, so "keep the stored secret" reads what it then keeps.
        stored = (
            await run_sql(
                session,
                "SELECT secret_ciphertext FROM connector_configs WHERE system = :system FOR UPDATE",
                {"system": system},
            )
        ).scalar()
        if kind == "http" and sealed is None:
            if stored is None:
                raise ValueError("an http connector needs a secret")
            sealed = bytes(stored)
        row = (
            await run_sql(
                session,
                "INSERT INTO connector_configs (tenant_id, system, kind, base_url, secret_ciphertext, timeout_seconds) "
                "VALUES (:tid, :system, :kind, :base_url, :sealed, :timeout) "
                "ON CONFLICT (tenant_id, system) DO UPDATE SET kind = EXCLUDED.kind, base_url = EXCLUDED.base_url, "
                "secret_ciphertext = EXCLUDED.secret_ciphertext, timeout_seconds = EXCLUDED.timeout_seconds, "
                "updated_at = now() "
                "RETURNING system, kind, base_url, secret_ciphertext IS NOT NULL AS has_secret, timeout_seconds, "
                "updated_at",
                {
                    "tid": tenant_id,
                    "system": system,
                    "kind": kind,
                    "base_url": base_url if kind == "http" else None,
                    "sealed": sealed if kind == "http" else None,
                    "timeout": timeout_seconds,
                },
            )
        ).one()
        if actor is not None:
            details = {"kind": kind, "base_url": row.base_url, "secret_changed": secret is not None}
            await record_event(
                session, tenant_id=tenant_id, actor=actor, action="connector.configured", target=system, details=details
            )
    return _setting(row)


async def delete_setting(db: Database, tenant_id: str, system: str, *, actor: str | None = None) -> bool:
    """Back to the sandbox; the sealed secret goes with the row. False when there was nothing to delete."""
    async with db.tenant_session(tenant_id) as session:
        deleted = (
            await run_sql(
                session, "DELETE FROM connector_configs WHERE system = :system RETURNING kind", {"system": system}
            )
        ).first()
        if deleted is not None and actor is not None:
            await record_event(session, tenant_id=tenant_id, actor=actor, action="connector.reset", target=system)
    return deleted is not None


def _setting(row: Any) -> ConnectorSetting:
    return ConnectorSetting(
        system=str(row.system),
        kind=str(row.kind),
        base_url=row.base_url,
        has_secret=bool(row.has_secret),
        timeout_seconds=float(row.timeout_seconds),
        updated_at=row.updated_at,
    )
