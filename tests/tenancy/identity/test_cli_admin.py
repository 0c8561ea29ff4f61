"""`aiaas admin token`, through the `aiaas` command's own dispatch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from app.cli import main
from core.settings import get_settings
from tenancy.jwt import dev_secret


@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in ("AIAAS_ENV", "AIAAS_JWT_SECRET", "AIAAS_JWT_ISSUER", "AIAAS_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _decode(token: str, data_dir: Path) -> dict[str, object]:
    return dict(jwt.decode(token, dev_secret(data_dir), algorithms=["HS256"]))


def test_prints_a_platform_token_signed_with_the_dev_secret(dev_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token", "--platform-role", "platform_operator", "--ttl", "120"]) == 0
    claims = _decode(capsys.readouterr().out.strip(), dev_env)
    assert claims["platform_role"] == "platform_operator" and claims["sub"] == "dev-admin"
    assert "tenant_id" not in claims and int(claims["exp"]) - int(claims["iat"]) == 120  # type: ignore[call-overload]


def test_prints_a_tenant_token_with_roles(dev_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["admin", "token", "--platform-role", "platform_admin", "--tenant", "t-1", "--role", "viewer"]
    assert main([*argv, "--role", "operator", "--subject", "eve"]) == 0
    claims = _decode(capsys.readouterr().out.strip(), dev_env)
    assert (claims["tenant_id"], claims["roles"], claims["sub"]) == ("t-1", ["viewer", "operator"], "eve")


def test_prints_a_persons_token_with_a_verified_email(dev_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token", "--tenant", "t-1", "--subject", "pat", "--email", "pat@example.com"]) == 0
    claims = _decode(capsys.readouterr().out.strip(), dev_env)
    assert (claims["sub"], claims["email"], claims["email_verified"]) == ("pat", "pat@example.com", True)
    # No roles claim: the membership decides.
    assert "roles" not in claims


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--platform-role", "root"],
        ["--role", "owner"],
        ["--tenant", "t-1", "--role", "superuser"],
        ["--platform-role", "platform_admin", "--ttl", "0"],
    ],
)
def test_bad_input_is_one_line(dev_env: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aiaas admin token: ") and len(err.strip().splitlines()) == 1


def test_refused_outside_dev(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIAAS_ENV", "test")
    get_settings.cache_clear()
    assert main(["admin", "token", "--platform-role", "platform_admin"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "only works in dev" in captured.err
    assert not (dev_env / "jwt-dev-secret").exists()
