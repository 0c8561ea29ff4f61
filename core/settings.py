"""Process settings: one `Settings` per process, read from the environment.

External endpoints use their conventional names (`TEMPORAL_ADDRESS`, `DATABASE_URL`, `REDIS_URL`); the
rest are prefixed `AIAAS_`. When an endpoint is unset, the embedded stack under `data_dir` provides it
(`aiaas up` writes the endpoints it started to `<data_dir>/stack.json`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from core.settings_admission import AdmissionSettings
from core.settings_edge import EdgeSettings
from core.settings_identity import IdentitySettings

DEV_PEPPER = "dev-only-api-key-pepper-change-me"  # refused outside dev
DEV_APP_DB_PASSWORD = "aiaas-app-dev-password"  # refused outside dev
JWT_ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MIN_JWT_SECRET_BYTES = 32


class Settings(IdentitySettings, EdgeSettings, AdmissionSettings):
    """Every setting of a process; those of sign-in (`core.settings_identity`), of the platform's edges
    (`core.settings_edge`) and of admission (`core.settings_admission`) are declared apart and read the same
    way."""

    model_config = SettingsConfigDict(env_prefix="AIAAS_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path(".aiaas")
    log_level: str = "INFO"
    log_json: bool = True

    # Endpoints of the parts. None means: the embedded stack provides it.
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "AIAAS_TEMPORAL_ADDRESS")
    )
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "AIAAS_DATABASE_URL"))
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "AIAAS_REDIS_URL"))
    # Knowledge search index: Weaviate when set (docs/knowledge.md#weaviate), else pgvector in the database.
    weaviate_url: str | None = Field(default=None, validation_alias=AliasChoices("WEAVIATE_URL", "AIAAS_WEAVIATE_URL"))
    weaviate_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("WEAVIATE_API_KEY", "AIAAS_WEAVIATE_API_KEY")
    )
    weaviate_grpc_port: int = Field(default=50051, ge=1, le=65535)
    weaviate_collection_prefix: str = Field(default="AiaasChunks", pattern=r"^[A-Z][A-Za-z0-9_]{0,40}$")
    # The gateway and workers connect as this role, which row-level security binds. Derived from
    # DATABASE_URL (same host and database, role `aiaas_app`) when unset.
    app_database_url: str | None = None
    app_db_password: SecretStr = SecretStr(DEV_APP_DB_PASSWORD)
    # Data residency (`db/regions.py`): region -> its data-plane database, as an owner-role URL or a bare
    # database name on DATABASE_URL's server. Empty: the one database serves every region.
    region_database_urls: dict[str, str] = Field(default_factory=dict)

    temporal_namespace: str = "default"
    task_queue: str = "aiaas-conversations"
    # Worker Versioning: with a build id, a worker joins the worker deployment `deployment_name` as version
    # `<deployment_name>.<build_id>` and runs only the workflows routed to that version (docs/operations.md,
    # "Safe deploys"). Unset, workers are unversioned, as before.
    deployment_name: str = Field(default="aiaas", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    build_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
    temporal_ui_url: str | None = None

    # Ports of the embedded stack.
    host: str = "127.0.0.1"
    gateway_port: int = 8000
    # The worker's Prometheus endpoint (`http://<host>:<port>/metrics`); unset, the worker serves none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # How many worker and gateway processes `aiaas up` runs; unset, one of each per core. Gateways share
    # `gateway_port` (SO_REUSEPORT); worker n > 1 serves its metrics on a port of its own.
    workers: int | None = Field(default=None, ge=1, le=64)
    gateway_workers: int | None = Field(default=None, ge=1, le=64)
    # The roles of the workers `aiaas up` runs: "all" (each runs every workflow and activity) or "split"
    # (`workers` processes of role workflows and `activity_workers` of role activities, the latter one per
    # core when unset; docs/architecture.md, "Using the cores").
    up_worker_roles: Literal["all", "split"] = "all"
    activity_workers: int | None = Field(default=None, ge=1, le=64)
    # Open conversations kept in memory per worker (the sticky cache; a run evicted from it replays its
    # history on its next task), and whether the platform's workflow modules are imported once per worker
    # process rather than once per workflow run (docs/architecture.md, "Worker memory").
    workflow_cache_size: int = Field(default=1000, ge=0, le=100_000)
    workflow_sandbox_shared: bool = True
    # Workflow-task polls a worker keeps open at once, and the share of them on the shared task queue (every
    # run's first task, ordered by priority and fairness keys) rather than the worker's sticky queue. The SDK's
    # defaults (5 and 0.2) leave the shared queue one poll (docs/architecture.md, "Admission of starts").
    worker_workflow_task_pollers: int = Field(default=10, ge=2, le=100)
    worker_nonsticky_poll_ratio: float = Field(default=0.5, gt=0, le=1)
    # What `aiaas worker` runs: "all" (every workflow and activity), "workflows" (the workflows and the local
    # activities they call, without the model, tool and ingest dependencies) or "activities" (the rest).
    worker_role: Literal["all", "workflows", "activities"] = "all"
    # The share of traces recorded (parent-based: a span follows its parent's decision, a new trace is
    # sampled at this rate). Low by default: recording every span costs a large share of a turn.
    trace_sample_rate: float = Field(default=0.01, ge=0, le=1)
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    postgres_port: int = 54329
    redis_port: int = 63799

    # Models. Any litellm model string, or `local/smollm2`, or `scripted/<name>`. Empty: auto.
    model_small: str = ""
    model_large: str = ""
    model_timeout_seconds: float = 120.0
    # JSON object pinning agents to models, e.g. {"support": "gpt-4o-mini"}; wins over the tiers.
    agent_models: str = ""
    # Model routing (router/): ordered fallbacks per tier as JSON, {"small": [...], "large": [...]} (empty: none);
    # a catalog file replacing the shipped one; a router artefact replacing the shipped global one.
    router_fallbacks: str = ""
    router_catalog: str = ""
    router_artefact: str = ""
    # Early exit (router/early_exit.py): how long a repeatable answer is kept in Redis, for tenants that opt in.
    router_early_exit_ttl_seconds: int = Field(default=600, ge=1, le=86_400)

    # Costs (policies.pricing, policies.cost_guard). Per-model prices in USD per million tokens, as JSON:
    # {"my-model": {"input_usd_per_mtok": 0.5, "output_usd_per_mtok": 1.5}}; wins over the bundled table
    # and litellm's. A model found nowhere costs the default price: expensive on purpose, never free.
    model_prices: str = ""
    default_input_usd_per_mtok: float = Field(default=10.0, ge=0)
    default_output_usd_per_mtok: float = Field(default=30.0, ge=0)
    # What a model call reserves for its answer when the caller names no limit.
    default_max_completion_tokens: int = Field(default=1024, ge=1)
    # A reservation whose call never settles (its worker died) stops counting after this long.
    reservation_ttl_seconds: float = Field(default=600.0, gt=0)
    # How long a tenant's budget mode is cached in Redis before it is recomputed from the ledger.
    budget_mode_cache_seconds: float = Field(default=2.0, ge=0)
    # In safe mode (over a soft budget) tools priced above this are refused.
    safe_mode_max_tool_cost_usd: float = Field(default=0.05, ge=0)

    # Conversations.
    max_message_chars: int = 8000
    conversation_idle_seconds: float = 3600.0
    history_turns: int = 20
    event_retention: int = 10_000
    event_ttl_seconds: int = 7 * 24 * 3600
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    ws_queue_size: int = 256
    # How long an open event stream rides out a Redis outage (resuming from its last event) before it
    # closes with a `stream.error` saying so.
    stream_retry_seconds: float = Field(default=30.0, ge=0)
    # A stream ticket (`POST .../stream-tickets`) opens one stream within this long, for a browser that can
    # send no Authorization header on a WebSocket or an EventSource.
    stream_ticket_ttl_seconds: float = Field(default=60.0, ge=1, le=600)

    # Redis: how long a reply may take before Redis counts as unreachable, and how long connecting may.
    # A blocking read (the event stream's XREAD BLOCK) gets its block time on top (`core.redis_clients`).
    redis_socket_timeout_seconds: float = Field(default=5.0, gt=0)
    redis_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Connections each client of a process may open; a command finding all busy waits for one as long as a
    # reply may take (`redis_socket_timeout_seconds`) instead of failing at once.
    redis_max_connections: int = Field(default=1000, ge=1)

    api_key_pepper: SecretStr = SecretStr(DEV_PEPPER)
    auth_cache_seconds: float = 5.0

    # Prometheus series per tenant: the tenants named here always get a `tenant` label of their own (a JSON
    # list), and so do the first `metrics_tenant_labels` others each process meets; the rest count as "other".
    metrics_tenants: list[str] = Field(default_factory=list)
    metrics_tenant_labels: int = Field(default=50, ge=0, le=10_000)

    # Payload encryption. The development KMS keeps its key-encryption keys in this file (default
    # `<data_dir>/kms/keys.json`); every process using the same database must use the same file.
    kms_keys_file: Path | None = None
    # Disaster-recovery drills (docs/operations.md): the schedule's cron (UTC; weekly by default), and the
    # Temporal dev server's SQLite file when not `<data_dir>/temporal/temporal.db`.
    dr_drill_cron: str = "0 3 * * 0"
    dr_temporal_db: Path | None = None
    # Where each database's drill backups live (`global` or a region -> directory, as JSON): a region's
    # backups stay in its own location. Unset: `<data_dir>/dr` for global, `<data_dir>/dr/regions/<region>`.
    dr_backup_dirs: dict[str, Path] = Field(default_factory=dict)
    # How long an unwrapped data key stays in a process: the delay before a rotation or a shredded key
    # is seen everywhere, and how long the codec rides out a database or KMS outage.
    data_key_cache_seconds: float = 300.0
    data_key_cache_entries: int = 4096
    # Browser origins allowed to call the codec endpoint, as a JSON list; Temporal UI at
    # `temporal_ui_url` always is.
    codec_cors_origins: list[str] = Field(default_factory=list)
    # The codec endpoint as Temporal UI's browser reaches it; default `http://<host>:<gateway_port>/codec`.
    ui_codec_endpoint: str | None = None

    def signup_key(self) -> str:
        """The signup token secret: `signup_secret`, else the API key pepper (required outside dev)."""
        return self.signup_secret.get_secret_value() or self.api_key_pepper.get_secret_value()

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env == "prod":
            if self.api_key_pepper.get_secret_value() == DEV_PEPPER:
                raise ValueError("AIAAS_API_KEY_PEPPER must be set outside dev")
            if self.app_db_password.get_secret_value() == DEV_APP_DB_PASSWORD:
                raise ValueError("AIAAS_APP_DB_PASSWORD must be set outside dev")
        return self

    @model_validator(mode="after")
    def _check_jwt(self) -> Settings:
        unsupported = [alg for alg in self.jwt_algorithms if alg not in JWT_ALGORITHMS]
        if unsupported or not self.jwt_algorithms:
            # `none` in particular: an unsigned token must never authenticate anyone.
            raise ValueError(f"AIAAS_JWT_ALGORITHMS must name some of {', '.join(sorted(JWT_ALGORITHMS))}")
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"AIAAS_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        configured = self.jwt_secret is not None or self.jwt_jwks_url or self.jwt_public_keys
        if self.env == "prod" and configured and not (self.jwt_issuer and self.jwt_audience):
            # Without both, a token the same identity provider minted for another application would pass.
            raise ValueError("AIAAS_JWT_ISSUER and AIAAS_JWT_AUDIENCE must be set when JWTs are accepted in prod")
        if self.env == "prod" and self.jwt_jwks_url and not self.jwt_jwks_url.startswith("https://"):
            # Whoever can answer a plain-HTTP fetch of the key set can sign tokens for anyone.
            raise ValueError("AIAAS_JWT_JWKS_URL must use https in prod")
        return self

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        if self.oidc_client_id is None:
            return self
        if not self.jwt_issuer:
            raise ValueError("AIAAS_OIDC_CLIENT_ID needs AIAAS_JWT_ISSUER: the provider the console signs in with")
        if "openid" not in self.oidc_scopes:
            raise ValueError("AIAAS_OIDC_SCOPES must include openid")
        if self.env == "prod" and not self.jwt_issuer.startswith("https://"):
            raise ValueError("AIAAS_JWT_ISSUER must use https in prod when the console signs in with it")
        return self

    @property
    def stack_file(self) -> Path:
        return self.data_dir / "stack.json"

    def with_stack_endpoints(self) -> Settings:
        """Fill unset endpoints from the running embedded stack's `stack.json`, if there is one."""
        if self.temporal_address and self.database_url and self.redis_url:
            return self
        try:
            found = json.loads(self.stack_file.read_text())
        except (OSError, ValueError):
            return self
        return self.model_copy(
            update={
                "temporal_address": self.temporal_address or found.get("temporal_address"),
                "database_url": self.database_url or found.get("database_url"),
                "redis_url": self.redis_url or found.get("redis_url"),
                "temporal_ui_url": self.temporal_ui_url or found.get("temporal_ui_url"),
            }
        )

    def require(self) -> Settings:
        """The settings with every endpoint known, or a clear error naming what is missing."""
        filled = self.with_stack_endpoints()
        missing = [
            name
            for name, value in (
                ("TEMPORAL_ADDRESS", filled.temporal_address),
                ("DATABASE_URL", filled.database_url),
                ("REDIS_URL", filled.redis_url),
            )
            if not value
        ]
        if missing:
            raise RuntimeError(
                f"{', '.join(missing)} not set and no embedded stack is running under "
                f"{self.data_dir} (start one with `aiaas up`)"
            )
        return filled

    def resolved_app_database_url(self) -> str:
        if self.app_database_url:
            return self.app_database_url
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url).set(username="aiaas_app", password=self.app_db_password.get_secret_value())
        return url.render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
