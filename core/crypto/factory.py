"""The codec as every process builds it from its settings: the KMS, the key store and the keyring."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.crypto.codec import TenantPayloadCodec
from core.crypto.keyring import Keyring
from core.crypto.kms import Kms, LocalFileKms
from core.crypto.store import PostgresKeyStore, TenantSessions
from core.settings import Settings

if TYPE_CHECKING:
    from db.database import Database

KMS_DIR = "kms"
KMS_FILE = "keys.json"
# Key loads are rare (one per tenant and key version per cache TTL); a pool the codec owns needs no more.
_OWNED_POOL_SIZE = 1


def kms_keys_path(settings: Settings) -> Path:
    if settings.kms_keys_file is not None:
        return Path(settings.kms_keys_file).expanduser()
    return Path(settings.data_dir).expanduser() / KMS_DIR / KMS_FILE


def build_kms(settings: Settings) -> Kms:
    return LocalFileKms(kms_keys_path(settings))


def build_codec(settings: Settings, db: Database | None = None) -> TenantPayloadCodec:
    """The unbound codec the SDK binds per workflow; it reads keys through `db`'s tenant sessions.

    Without `db` it opens a small pool of its own on the app database URL and empties it after each key
    load, so callers that never close their client (scripts, tests) leave no idle connection behind.
    """
    sessions: TenantSessions
    if db is None:
        from db.database import Database

        owned = Database(settings.resolved_app_database_url(), pool_size=_OWNED_POOL_SIZE)
        sessions, on_idle = owned, owned.close
    else:
        sessions, on_idle = db, None
    keyring = Keyring(
        PostgresKeyStore(sessions),
        build_kms(settings),
        ttl_seconds=settings.data_key_cache_seconds,
        max_entries=settings.data_key_cache_entries,
        on_idle=on_idle,
    )
    return TenantPayloadCodec(keyring)
