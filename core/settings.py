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
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PEPPER = "dev-only-api-key-pepper-change-me"  # refused outside dev
DEV_APP_DB_PASSWORD = "aiaas-app-dev-password"  # refused outside dev


class Settings(BaseSettings):
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
    # The gateway and workers connect as this role, which row-level security binds. Derived from
    # DATABASE_URL (same host and database, role `aiaas_app`) when unset.
    app_database_url: str | None = None
    app_db_password: SecretStr = SecretStr(DEV_APP_DB_PASSWORD)

    temporal_namespace: str = "default"
    task_queue: str = "aiaas-conversations"
    temporal_ui_url: str | None = None

    # Ports of the embedded stack.
    host: str = "127.0.0.1"
    gateway_port: int = 8000
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

    # Conversations.
    max_message_chars: int = 8000
    conversation_idle_seconds: float = 3600.0
    history_turns: int = 20
    event_retention: int = 10_000
    event_ttl_seconds: int = 7 * 24 * 3600
    sse_keepalive_seconds: float = 15.0
    ws_queue_size: int = 256

    api_key_pepper: SecretStr = SecretStr(DEV_PEPPER)
    auth_cache_seconds: float = 5.0

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env == "prod":
            if self.api_key_pepper.get_secret_value() == DEV_PEPPER:
                raise ValueError("AIAAS_API_KEY_PEPPER must be set outside dev")
            if self.app_db_password.get_secret_value() == DEV_APP_DB_PASSWORD:
                raise ValueError("AIAAS_APP_DB_PASSWORD must be set outside dev")
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
