"""Which Postgres servers a DR drill backs up, which databases each holds, and where each backup lives.

A base backup copies a whole server, so the unit of a drill is a server: the control plane's (`global`,
`DATABASE_URL`) and every region's (`AIAAS_REGION_DATABASE_URLS`). A region on a server of its own is backed
up alone, into its own backup location (`AIAAS_DR_BACKUP_DIRS`): a tenant's region decides where its data and
its backups live. A region whose database is a bare name shares the control plane's server (the embedded
one-server layout); its data is then inside that server's backup, which the plan says in a note, and refuses
outright when the region was given a backup location of its own, since the copy would land elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from contracts.dr import GLOBAL_SCOPE, DrPlan, DrServer
from core.settings import Settings
from db.database import to_async_url
from db.regions import region_admin_urls


def scope_urls(settings: Settings) -> dict[str, str]:
    """`global` and every configured region -> a URL of its database with the rights a base backup needs."""
    if not settings.database_url:
        raise RuntimeError("a DR drill needs DATABASE_URL (Postgres's superuser) to take a base backup")
    return {GLOBAL_SCOPE: settings.database_url, **dict(sorted(region_admin_urls(settings).items()))}


def _server(url: str) -> tuple[Any, ...]:
    parsed = make_url(to_async_url(url))
    return (parsed.host or "127.0.0.1", parsed.port or 5432)


def database_name(url: str) -> str:
    return str(make_url(to_async_url(url)).database or "")


def location(settings: Settings, scope: str) -> Path:
    """The backup location of `scope`: configured, or a folder of the data dir."""
    configured = settings.dr_backup_dirs.get(scope)
    if configured is not None:
        return Path(configured).expanduser().resolve()
    root = Path(settings.data_dir).expanduser().resolve() / "dr"
    return root if scope == GLOBAL_SCOPE else root / "regions" / scope


def plan(settings: Settings) -> DrPlan:
    urls = scope_urls(settings)
    unknown = sorted(set(settings.dr_backup_dirs) - set(urls))
    if unknown:
        raise ValueError(f"AIAAS_DR_BACKUP_DIRS names {', '.join(unknown)}: neither global nor a configured region")
    groups: dict[tuple[Any, ...], list[str]] = {}
    for scope, url in urls.items():
        groups.setdefault(_server(url), []).append(scope)
    servers: list[DrServer] = []
    for scopes in groups.values():
        owner = scopes[0]
        where = location(settings, owner)
        notes: list[str] = []
        refusals: list[str] = []
        kept = [owner]
        for scope in scopes[1:]:
            if scope in settings.dr_backup_dirs and location(settings, scope) != where:
                refusals.append(
                    f"{scope}: its database shares {owner}'s Postgres server, whose base backup goes to {where}, "
                    f"not to {scope}'s backup location {location(settings, scope)}; give {scope} a server of its own"
                )
                continue
            kept.append(scope)
            notes.append(f"{scope}: its database shares {owner}'s Postgres server, so its backup is in {where}")
        servers.append(DrServer(name=owner, scopes=kept, location=str(where), notes=notes, refusals=refusals))
    return DrPlan(servers=servers)
