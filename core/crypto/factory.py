"""The codec as every process builds it from its settings: the KMS, a key store handed in, and the keyring."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from core.crypto.codec import TenantPayloadCodec
from core.crypto.keyring import Keyring
from core.crypto.kms import Kms, LocalFileKms
from core.crypto.store import KeyStore
from core.settings import Settings

KMS_DIR = "kms"
KMS_FILE = "keys.json"


def kms_keys_path(settings: Settings) -> Path:
    if settings.kms_keys_file is not None:
        return Path(settings.kms_keys_file).expanduser()
    return Path(settings.data_dir).expanduser() / KMS_DIR / KMS_FILE


def build_kms(settings: Settings) -> Kms:
    return LocalFileKms(kms_keys_path(settings))


def build_codec(
    settings: Settings,
    store: KeyStore,
    *,
    on_idle: Callable[[], Awaitable[None]] | None = None,
) -> TenantPayloadCodec:
    """The unbound codec the SDK binds per workflow, reading wrapped data keys from `store`.

    `on_idle` runs whenever no key load is in flight; a store on a connection pool of its own passes the
    pool's close there, so a process that never closes its client leaves no idle connection behind.
    """
    keyring = Keyring(
        store,
        build_kms(settings),
        ttl_seconds=settings.data_key_cache_seconds,
        max_entries=settings.data_key_cache_entries,
        on_idle=on_idle,
    )
    return TenantPayloadCodec(keyring)
