"""Fixtures of the knowledge tests that run against the platform's gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.platform import Platform


@pytest.fixture(scope="module")
def api_module(platform: Platform, tenant_a: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {tenant_a[1]}"}, timeout=30) as c:
        yield c
