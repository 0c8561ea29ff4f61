"""Signup fixtures: Redis, the time-skipping test server and the keyring, shared with the billing tests."""

from tests.billing.conftest import redis  # noqa: F401 (fixtures)
from tests.webhooks.conftest import keyring, skipping_env  # noqa: F401 (fixtures)
