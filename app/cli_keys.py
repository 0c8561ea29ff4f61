"""`aiaas keys list|create|revoke --tenant ID`: a tenant's API keys from the terminal.

The same functions as `/v1/api-keys`, in the same tenant-bound transaction under row-level security, with
the same audit records; the actor is `cli:<user>`. A new key is printed once: only its hash is stored. A
revocation is announced to the gateways through Redis, as the API does, so none keeps accepting the key.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.cli_context import add_data_dir, load_settings, require_database, run_database, table

if TYPE_CHECKING:
    from core.settings import Settings
    from tenancy.api_keys import ApiKey

EXIT_BAD_INPUT = 2
ROLES = ("owner", "admin", "developer", "operator", "viewer")


def add_keys_parser(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="list, create and revoke a tenant's API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    listing = actions.add_parser("list", help="list the tenant's keys (never their secrets)")
    listing.add_argument("--tenant", required=True, help="the tenant's id (see `aiaas tenant list`)")
    listing.add_argument("--all", action="store_true", help="also list revoked and expired keys")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    add_data_dir(listing)
    listing.set_defaults(func=_list)

    create = actions.add_parser("create", help="issue a key and print it once")
    create.add_argument("--tenant", required=True, help="the tenant's id (see `aiaas tenant list`)")
    create.add_argument("--name", required=True, help="what the key is for, 1-100 characters")
    create.add_argument("--role", default="developer", help=f"{', '.join(ROLES)} (default: developer)")
    create.add_argument(
        "--scope", action="append", default=None, help="narrow the role to this permission (repeatable)"
    )
    create.add_argument("--expires-at", default=None, help="ISO 8601 time with a zone after which it stops working")
    create.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    add_data_dir(create)
    create.set_defaults(func=_create)

    revoke = actions.add_parser("revoke", help="revoke a key on every gateway")
    revoke.add_argument("--tenant", required=True, help="the tenant's id (see `aiaas tenant list`)")
    revoke.add_argument("key_id", help="the key's id (see `aiaas keys list`)")
    add_data_dir(revoke)
    revoke.set_defaults(func=_revoke)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _bad_input(command: str, problem: str) -> int:
    print(f"aiaas keys {command}: {problem}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _row(key: ApiKey) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "scopes": list(key.scopes),
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
    }


def _state(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is None:
        return "active"
    if key.expires_at <= datetime.now(UTC):
        return "expired"
    return f"active until {key.expires_at.isoformat(timespec='seconds')}"


def _list(args: argparse.Namespace) -> int:
    from app.cli_keys_store import list_keys

    settings = _settings(args)
    keys = run_database(list_keys(settings, args.tenant, include_inactive=args.all), "list the keys")
    rows = [_row(key) for key in keys]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no {'' if args.all else 'active '}keys for tenant {args.tenant}")
        return 0
    body = [[key.id, key.name, key.prefix, key.role, _state(key)] for key in keys]
    print(table(["id", "name", "prefix", "role", "state"], body))
    return 0


def _create(args: argparse.Namespace) -> int:
    from app.cli_keys_store import create_key

    if args.role not in ROLES:
        return _bad_input("create", f"role must be one of {', '.join(ROLES)}")
    if not 1 <= len(args.name.strip()) <= 100 or not args.name.isprintable():
        return _bad_input("create", "name must be 1 to 100 printable characters")
    expires_at = None
    if args.expires_at is not None:
        try:
            expires_at = datetime.fromisoformat(args.expires_at)
        except ValueError:
            return _bad_input("create", "--expires-at must be an ISO 8601 time, e.g. 2030-01-31T00:00:00+00:00")
        if expires_at.tzinfo is None:
            return _bad_input("create", "--expires-at needs a time zone, e.g. +00:00")
    settings = _settings(args)
    try:
        issued = run_database(
            create_key(settings, args.tenant, args.name.strip(), args.role, args.scope or [], expires_at, _actor()),
            "create the key",
        )
    except ValueError as exc:
        return _bad_input("create", str(exc))
    if args.json:
        print(json.dumps({**_row(issued.row), "api_key": issued.key}, indent=2))
    else:
        print(f"id:      {issued.row.id}")
        print(f"api_key: {issued.key}  (shown once; only its hash is stored)")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from app.cli_keys_store import revoke_key

    settings = _settings(args)
    outcome = run_database(revoke_key(settings, args.tenant, args.key_id, _actor()), "revoke the key")
    print(outcome)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.data_dir)
    require_database(settings)
    return settings
