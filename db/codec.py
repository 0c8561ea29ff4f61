"""The payload codec and the Temporal client over this database's key store.

`core` builds the codec from a key store it is handed and cannot open a database itself; this is where a
process that has no pool of its own to lend (a script, a test, a one-off client) gets one for its keys.
"""

from __future__ import annotations

from temporalio.client import Client

from core.crypto import factory
from core.crypto.codec import TenantPayloadCodec
from core.crypto.store import PostgresKeyStore
from core.settings import Settings
from core.temporal_plugin import connect_with
from db.database import Database
from db.regions import open_database

# Key loads are rare (one per tenant and key version per cache TTL); a pool the codec owns needs no more.
_OWNED_POOL_SIZE = 1


def build_codec(settings: Settings, db: Database | None = None) -> TenantPayloadCodec:
    """The unbound codec the SDK binds per workflow; it reads keys through `db`'s tenant sessions.

    Without `db` it opens a small pool of its own on the app database URL and empties it after each key
    load, so callers that never close their client (scripts, tests) leave no idle connection behind.
    """
    if db is not None:
        return factory.build_codec(settings, PostgresKeyStore(db))
    owned = open_database(settings, pool_size=_OWNED_POOL_SIZE)
    return factory.build_codec(settings, PostgresKeyStore(owned), on_idle=owned.close)


async def connect(settings: Settings, *, db: Database | None = None) -> Client:
    """A client whose codec reads data keys through `db` (the caller's pool), or through a pool of its own."""
    return await connect_with(settings, build_codec(settings, db))
