"""The gateway's app factory: clients built once in the lifespan, the /v1 routers (`api.v1`) behind admission.

The tool registry comes from the caller (the composition root, `app.gateway`), so the gateway lists and
validates against exactly the tools its process registered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from agents.sdk import ToolRegistry
from api.admission.headers import RateLimitHeaders
from api.admission.lifespan import admission_lifespan
from api.deps import auth_lifespan
from api.docs import install_docs
from api.edge_limits import ConsoleLimit
from api.errors import install_error_handlers
from api.request_guard import RequestGuard
from api.routes import channel_hooks, codec, codec_export, health, invitations, signup, widget
from api.state import GatewayState
from api.trace_privacy import redact_request_span
from api.v1 import http_router, socket_router
from core.crypto import fields
from core.event_hub import EventHub
from core.events import EventBus
from core.logging import configure_logging
from core.metric_labels import configure_tenant_labels
from core.redis_clients import blocking_client, command_client
from core.settings import Settings, get_settings
from core.telemetry import configure_tracing, tracing_enabled
from db.codec import connect
from db.regions import open_database
from knowledge.backends import close_backend, open_backend
from tenancy.auth import ApiKeyAuthenticator


def create_app(settings: Settings | None = None, *, registry: ToolRegistry) -> FastAPI:
    settings = (settings or get_settings()).require()
    fields.configure(settings)  # transcripts and tool calls sealed with this process's KMS
    configure_logging(settings.log_level, json_output=settings.log_json)
    configure_tracing("aiaas-gateway")
    configure_tenant_labels(settings.metrics_tenant_labels, settings.metrics_tenants)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = open_database(settings)
        await open_backend(settings)  # knowledge: Weaviate when WEAVIATE_URL is set, failing the start if unreachable
        temporal = await connect(settings, db=db)
        redis = command_client(settings)
        # Event streams block on Redis for up to a keep-alive interval, longer than a command may take.
        stream_reader = blocking_client(settings)
        # One subscription tells every stream of this process when its conversation has new events.
        hub = EventHub(stream_reader)
        hub.start()
        app.state.gateway = GatewayState(
            settings=settings,
            temporal=temporal,
            db=db,
            redis=redis,
            bus=EventBus(
                redis,
                reader=stream_reader,
                maxlen=settings.event_retention,
                ttl_seconds=settings.event_ttl_seconds,
                hub=hub,
            ),
            authenticator=ApiKeyAuthenticator(
                db, settings.api_key_pepper.get_secret_value(), cache_seconds=settings.auth_cache_seconds
            ),
            tools=registry,
        )
        try:
            # JWT verification and cross-replica invalidation of cached principals live as long as the app.
            # Admission (rate limits, quotas, leases) and its backlog sampler for load shedding, likewise.
            async with auth_lifespan(app), admission_lifespan(app):
                yield
        finally:
            await app.state.gateway.authenticator.close()
            await hub.close()
            await db.close()
            await redis.aclose()
            await stream_reader.aclose()
            await close_backend(settings)

    app = FastAPI(
        title="aiaas",
        summary="Multi-tenant AI agents on durable execution",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # `/v1/agents/` is a 404 in the error shape, not a redirect to `/v1/agents`.
        redirect_slashes=False,
    )
    install_error_handlers(app)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(http_router())
    app.include_router(socket_router())
    app.include_router(codec.router)
    app.include_router(codec_export.router)
    # Providers' webhooks: outside /v1, authenticated by each provider's signature instead of an API key.
    app.include_router(channel_hooks.router)
    # The embeddable web chat: its script and the routes it calls, keyed by the widget's public key.
    app.include_router(widget.router)
    # Self-serve signup: no credentials yet, so outside the authenticated /v1 router; limits of its own.
    app.include_router(signup.router)
    # Accepting an invitation: a person's identity token, no tenant yet; limited per client address.
    app.include_router(invitations.accept_router, dependencies=[ConsoleLimit])

    app.add_middleware(RequestGuard)
    app.add_middleware(RateLimitHeaders)
    if tracing_enabled():
        FastAPIInstrumentor.instrument_app(
            app,
            excluded_urls="healthz,readyz,metrics",
            server_request_hook=redact_request_span,
            # No span per ASGI message: an event stream would add one per event to a sampled trace.
            exclude_spans=["receive", "send"],
        )
    return app
