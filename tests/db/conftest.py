"""The database tests use the tenancy tests' migrated database, roles and tenants."""

from __future__ import annotations

from tests.tenancy.conftest import (  # noqa: F401
    admin_db,
    admin_url,
    app_db,
    fresh_database,
    two_tenants,
    urls,
    urls_app_single,
)
