"""What the gateway holds for its lifetime: clients of Temporal, Postgres and Redis, built in the lifespan,
and the tool registry the composition root hands it.

The registry is given rather than loaded here, so the gateway shows exactly the tools the process that
built it registered (the same call a worker makes), and nothing in `api` needs to know where tools live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from temporalio.client import Client

from agents.enablement import ToolEnablement
from agents.sdk import ToolRegistry
from core.events import EventBus
from core.settings import Settings
from db.database import Database
from tenancy.auth import ApiKeyAuthenticator
from tenancy.oidc import OidcClient
from tenancy.oidc_attempts import SignInAttempts
from tenancy.web_sessions import WebSessions


@dataclass
class GatewayState:
    settings: Settings
    temporal: Client
    db: Database
    redis: Redis
    bus: EventBus
    authenticator: ApiKeyAuthenticator
    tools: ToolRegistry
    # Which tools each tenant has switched on; one per gateway, its cache checked against the tenant's
    # version key in Redis on every read.
    tool_enablement: ToolEnablement = field(init=False)
    # The console's browser sessions (`tenancy.web_sessions`), in the same Redis.
    web_sessions: WebSessions = field(init=False)
    # The console's OpenID Connect sign-in (`tenancy.oidc`), when configured; set with the JWT verifier it
    # shares, for as long as the gateway runs (`api.deps.auth_lifespan`).
    oidc: OidcClient | None = field(default=None, init=False)
    oidc_attempts: SignInAttempts = field(init=False)

    def __post_init__(self) -> None:
        self.tool_enablement = ToolEnablement(self.db, redis=self.redis, registry=self.tools)
        self.web_sessions = WebSessions(self.redis, ttl_seconds=int(self.settings.console_session_seconds))
        self.oidc_attempts = SignInAttempts(self.redis, ttl_seconds=self.settings.oidc_attempt_seconds)
