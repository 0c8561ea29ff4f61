"""Credentials and settings for talking to the e2e platform as a platform admin or a tenant's member."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.settings import Settings
from tenancy.jwt import dev_secret, issue_token
from tests.e2e.platform import Platform


@dataclass(frozen=True)
class NewTenant:
    id: str
    api_key: str
    name: str


def platform_token(running: Platform, subject: str = "ops-admin", role: str = "platform_admin") -> str:
    # The gateway verifies HS256 tokens with the dev secret in its data dir when no secret is configured.
    return issue_token(dev_secret(running.data_dir), subject=subject, platform_role=role, ttl_seconds=600)


def tenant_token(running: Platform, tenant_id: str, *roles: str, subject: str | None = None) -> str:
    return issue_token(
        dev_secret(running.data_dir),
        subject=subject or f"user-{uuid.uuid4().hex[:8]}",
        tenant_id=tenant_id,
        roles=roles,
        ttl_seconds=600,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def worker_settings(running: Platform) -> Settings:
    """The settings the platform's processes run with: their data dir holds the KMS keys and the dev secret."""
    return running.settings.model_copy(update={"data_dir": running.data_dir})
