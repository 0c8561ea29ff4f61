"""`aiaas admin token`: print a short-lived JWT for local development, signed with the dev secret
(`aiaas admin subscribe`, starting existing tenants' subscriptions, lives in `cli_subscribe.py`).

Dev only: outside dev, tokens come from the identity provider, and a command that mints platform
administrator tokens from a secret on disk would be a way around it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli_subscribe import add_subscribe_parser

EXIT_BAD_INPUT = 2
DEFAULT_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 7 * 24 * 3600


def add_admin_parser(subparsers: Any) -> None:
    admin = subparsers.add_parser("admin", help="platform administration (dev)")
    actions = admin.add_subparsers(dest="admin_command", required=True)
    token = actions.add_parser("token", help="print a dev JWT signed with the dev secret (dev only)")
    # Role names are checked by the handler rather than `choices`, so bad input costs one line.
    token.add_argument("--platform-role", default=None, help="platform_admin or platform_operator")
    token.add_argument("--tenant", default=None, help="tenant id the token acts for")
    token.add_argument("--role", action="append", default=None, help="tenant role (repeatable); needs --tenant")
    token.add_argument("--subject", default="dev-admin", help="the token's `sub` (default: dev-admin)")
    token.add_argument("--email", default=None, help="a verified `email` claim, as an identity provider sets it")
    token.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default: 3600)")
    token.add_argument("--data-dir", type=Path, default=None, help="where `aiaas up` keeps its state")
    token.set_defaults(func=_token)
    add_subscribe_parser(actions)


def _problem(args: argparse.Namespace) -> str | None:
    from tenancy.permissions import PLATFORM_ROLES, TENANT_ROLES

    if args.platform_role is None and args.tenant is None:
        return "give --platform-role, or --tenant with --role"
    if args.platform_role is not None and args.platform_role not in PLATFORM_ROLES:
        return f"--platform-role must be one of {', '.join(PLATFORM_ROLES)}"
    if args.role and args.tenant is None:
        return "--role needs --tenant"
    unknown = [role for role in args.role or () if role not in TENANT_ROLES]
    if unknown:
        return f"--role must be one of {', '.join(TENANT_ROLES)}"
    if not 1 <= args.ttl <= MAX_TTL_SECONDS:
        return f"--ttl must be between 1 and {MAX_TTL_SECONDS} seconds"
    return None


def _token(args: argparse.Namespace) -> int:
    # Imported here: `aiaas --help` builds every subcommand's parser and should not pay for the crypto.
    from core.settings import get_settings
    from tenancy.jwt import dev_secret, issue_token

    problem = _problem(args)
    if problem:
        print(f"aiaas admin token: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = get_settings()
    if settings.env != "dev":
        raise RuntimeError(f"`aiaas admin token` only works in dev (AIAAS_ENV is {settings.env})")
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
    else:
        secret = dev_secret(args.data_dir if args.data_dir is not None else Path(settings.data_dir))
    token = issue_token(
        secret,
        subject=args.subject,
        tenant_id=args.tenant,
        roles=tuple(args.role) if args.role else None,
        platform_role=args.platform_role,
        ttl_seconds=args.ttl,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        extra={"email": args.email, "email_verified": True} if args.email else None,
    )
    print(token)
    return 0
