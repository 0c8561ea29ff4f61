"""What `aiaas up` prints on stdout once everything answers: where each part runs, one `name: value` a line.

Scripts read these lines (`worker metrics: URL` is the first worker's endpoint whatever its role), so each
label keeps its spelling; the model line is informational and left out when the registry cannot say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.up_apps import AppProcess

if TYPE_CHECKING:
    from core.settings import Settings
    from core.stack.stack import StackEndpoints


def summary_lines(
    settings: Settings,
    endpoints: StackEndpoints,
    *,
    gateway_count: int,
    workers: list[AppProcess],
    smtp_port: int,
) -> list[str]:
    """Everything but the last line (the logs); `gateway_count` 0: no gateway, `workers` empty: no worker."""
    from core.stack.postgres import mask_password

    lines = [
        f"temporal: {endpoints.temporal_address}",
        f"temporal ui: {endpoints.temporal_ui_url or '(not known; set AIAAS_TEMPORAL_UI_URL)'}",
        f"postgres: {mask_password(endpoints.database_url)}",
        f"redis: {endpoints.redis_url}",
    ]
    if gateway_count:
        url = f"http://{settings.host}:{settings.gateway_port}"
        lines += [f"gateway: {url}", f"api docs: {url}/docs", f"gateway processes: {gateway_count}"]
        # The development sign-in: a key (`aiaas tenant create`) or a dev token, pasted on the sign-in page.
        sign_in = "a key from `aiaas tenant create`, or `aiaas admin token --platform-role platform_admin`"
        if settings.oidc_client_id:
            sign_in = f"through {settings.oidc_provider_name or settings.jwt_issuer}, or " + sign_in
        lines.append(f"console: {url}/console (sign in with {sign_in})")
    if workers:
        roles = [worker.role for worker in workers]
        if set(roles) != {"all"}:
            lines.append(f"worker roles: {roles.count('workflows')} workflows, {roles.count('activities')} activities")
        lines.append(f"worker metrics: {workers[0].ready_url}")
        lines += [f"{worker.name} metrics: {worker.ready_url}" for worker in workers[1:]]
    if smtp_port:
        lines.append(f"smtp (email channels, development): {settings.host}:{smtp_port}")
    models = describe_models(settings, endpoints)
    if models:
        lines.append(models)
    return lines


def describe_models(settings: Settings, endpoints: StackEndpoints) -> str | None:
    settings = settings.model_copy(
        update={
            "temporal_address": endpoints.temporal_address,
            "database_url": endpoints.database_url,
            "redis_url": endpoints.redis_url,
            "temporal_ui_url": endpoints.temporal_ui_url,
        }
    )
    # Informational only: a platform that is up stays up when the model registry cannot describe itself.
    try:
        from agents.models.registry import describe_default_models

        return str(describe_default_models(settings))
    except Exception:
        return None
