"""Log redaction and the refusal of development secrets outside dev."""

from __future__ import annotations

import json

import pytest
import structlog
from pydantic import SecretStr, ValidationError

from core.logging import configure_logging
from core.settings import Settings


def test_structured_logs_are_json_and_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_output=True)
    structlog.get_logger("t").info("turn done", content="my card is 4111 1111 1111 1111", note="mail a@b.co")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["content"] == "[redacted]" and line["note"] == "mail [email]" and line["event"] == "turn done"
    assert "timestamp" in line and line["level"] == "info"
    structlog.reset_defaults()


def test_operational_numbers_survive_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    """Budget amounts, token counts and ids are what operators read logs for; none of them is personal data."""
    configure_logging("INFO", json_output=True)
    structlog.get_logger("t").info(
        "budget updated",
        limit_usd="100.000000",
        spent_usd="1500000.25",
        tokens=12345678,
        order="o-4155550100",
        caller="+1 415 555 0100",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["limit_usd"] == "100.000000" and line["spent_usd"] == "1500000.25"
    assert line["tokens"] == 12345678 and line["order"] == "o-4155550100"
    assert line["caller"] == "[phone]"
    structlog.reset_defaults()


def test_prod_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError):
        Settings(env="prod")
    ok = Settings(env="prod", api_key_pepper=SecretStr("p" * 32), app_db_password=SecretStr("q" * 32))
    assert ok.env == "prod"


def test_require_names_what_is_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="TEMPORAL_ADDRESS, DATABASE_URL, REDIS_URL"):
        Settings(data_dir=tmp_path, temporal_address=None, database_url=None, redis_url=None).require()


def test_app_database_url_is_derived_from_the_admin_url() -> None:
    settings = Settings(database_url="postgresql://postgres:pw@db:5432/aiaas", app_db_password=SecretStr("s3cret"))
    assert settings.resolved_app_database_url() == "postgresql://aiaas_app:s3cret@db:5432/aiaas"
