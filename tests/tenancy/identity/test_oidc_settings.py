"""The console's OpenID Connect client: its settings, and a provider that cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings
from core.stack.ports import free_port
from tenancy.jwt import JwtConfig, JwtVerifier
from tenancy.oidc import OidcClient, OidcError


def test_a_client_needs_the_issuer_the_api_trusts_and_openid(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="AIAAS_JWT_ISSUER"):
        Settings(oidc_client_id="console")
    with pytest.raises(ValidationError, match="openid"):
        Settings(oidc_client_id="console", jwt_issuer="https://idp.example", oidc_scopes=["profile"])
    with pytest.raises(ValidationError, match="https"):
        Settings(
            env="prod",
            oidc_client_id="console",
            jwt_issuer="http://idp.example",
            jwt_audience="api",
            api_key_pepper="p" * 32,
            app_db_password="x" * 16,
        )
    named = Settings(oidc_client_id="console", jwt_issuer="https://idp.example/realms/acme", data_dir=tmp_path)
    assert OidcClient(named, JwtVerifier(JwtConfig.from_settings(named))).name == "idp.example"


async def test_a_provider_that_does_not_answer_is_a_503_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(oidc_client_id="console", jwt_issuer=f"http://127.0.0.1:{free_port()}", data_dir=tmp_path)
    client = OidcClient(settings, JwtVerifier(JwtConfig.from_settings(settings)))
    try:
        with pytest.raises(OidcError) as refused:
            await client.authorization_url(redirect_uri="http://x/cb", state="s", nonce="n", code_verifier="v" * 43)
        assert refused.value.status == 503 and refused.value.code == "provider_unavailable"
        # Signing out still works locally: no provider logout to send the browser to.
        assert await client.end_session_url(id_token="t", post_logout_redirect_uri="http://x/") is None
    finally:
        await client.close()
