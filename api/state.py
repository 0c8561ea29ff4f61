"""What the gateway holds for its lifetime: clients of Temporal, Postgres and Redis, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from temporalio.client import Client

from core.events import EventBus
from core.settings import Settings
from db.database import Database
from tenancy.auth import ApiKeyAuthenticator


@dataclass
class GatewayState:
    settings: Settings
    temporal: Client
    db: Database
    redis: Redis
    bus: EventBus
    authenticator: ApiKeyAuthenticator
