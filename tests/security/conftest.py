"""The security suite runs against the real platform (gateway and worker processes on the session stack)."""

from tests.e2e.conftest import api, api_b, platform, tenant_a, tenant_b  # noqa: F401
