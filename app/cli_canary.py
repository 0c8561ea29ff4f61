"""`aiaas router canary start|list|show|approve|abort`: a tenant's router canaries from the command line.

The same steps as `/v1/router/canaries` (`router.canary_start`): start tries one subject (`--model M`,
`--agent NAME --agent-version N` or `--threshold T`), checks it against the tenant's region, settings and
agents, stores and audits the canary (actor `cli`) and starts its `CanaryWorkflow`; approve and abort are
updates of that workflow. Every command prints JSON.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

from app.cli_context import add_data_dir, load_settings, require_database, run_database


def add_canary_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "canary", help="try a model, an agent version or a routing threshold on a share of a tenant's conversations"
    )
    canary = parser.add_subparsers(dest="canary_command", required=True)
    start = canary.add_parser("start", help="start a canary: compare, then promote or roll back")
    start.add_argument("--tenant", required=True, help="the tenant's id")
    subject = start.add_mutually_exclusive_group(required=True)
    subject.add_argument("--model", help="the model on trial (in the tenant's region)")
    subject.add_argument("--agent", help="the agent whose --agent-version is on trial")
    subject.add_argument("--threshold", type=float, help="the routing threshold on trial, between 0 and 1")
    start.add_argument("--agent-version", type=int, help="with --agent: the saved version on trial (0: the default)")
    start.add_argument("--share", type=float, required=True, help="share of conversations, between 0 and 1")
    start.add_argument("--control-model", help="compared on eval pass rate (default: the tier's model)")
    start.add_argument("--require-approval", action="store_true", help="a promotion waits for `approve`")
    start.add_argument("--check-every-minutes", type=int, default=15, help="minutes between two checks")
    start.add_argument("--max-duration-hours", type=int, default=168, help="roll back if undecided by then")
    start.add_argument("--min-turns", type=int, default=200, help="turns per arm before any decision")
    for name, help_text in (("list", "the tenant's canaries, newest first"), ("show", "one canary")):
        sub = canary.add_parser(name, help=help_text)
        sub.add_argument("--tenant", required=True, help="the tenant's id")
        if name == "show":
            sub.add_argument("canary_id", help="the canary's id")
    for name in ("approve", "abort"):
        sub = canary.add_parser(name, help=f"{name} a canary")
        sub.add_argument("canary_id", help="the canary's id")
        sub.add_argument("--tenant", required=True, help="the tenant's id")
        if name == "abort":
            sub.add_argument("--reason", default="aborted", help="recorded with the roll back")
    for sub in canary.choices.values():
        add_data_dir(sub)
        sub.set_defaults(func=_canary)


def _json(canary: Any) -> dict[str, Any]:
    return {
        "id": canary.id,
        "subject": canary.subject.model_dump(),
        "model": canary.model,
        "tier": canary.tier,
        "share": canary.share,
        "status": canary.status.value,
        "reason": canary.reason,
        "checks": canary.checks,
        "last_check": canary.last_check,
        "created_at": canary.created_at.isoformat(),
    }


def _subject(args: argparse.Namespace) -> dict[str, Any]:
    if args.agent is not None:
        if args.agent_version is None:
            raise RuntimeError("--agent needs --agent-version")
        return {"subject": {"kind": "agent_version", "agent": args.agent, "version": args.agent_version}}
    if args.agent_version is not None:
        raise RuntimeError("--agent-version goes with --agent")
    if args.threshold is not None:
        return {"subject": {"kind": "router_threshold", "threshold": args.threshold}}
    return {"model": args.model}


async def _work(settings: Any, args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from agents.activation import active_version
    from agents.definitions import pinned_agent_names
    from contracts.canary import CanaryAbort, CanaryApproval, CanaryRequest, CanaryRule
    from db.codec import connect
    from db.database import Database
    from router import canary_start, canary_store
    from router.catalog import catalog_at

    db = Database(settings.resolved_app_database_url(), pool_size=2)
    try:
        if args.canary_command == "list":
            async with db.tenant_session(args.tenant) as session:
                return [_json(c) for c in await canary_store.list_page(session, args.tenant, before=None, limit=200)]
        if args.canary_command == "show":
            found = await canary_start.read(db, args.tenant, args.canary_id)
            if found is None:
                raise RuntimeError(f"no canary {args.canary_id} for tenant {args.tenant}")
            return _json(found)
        client = await connect(settings, db=db)
        if args.canary_command == "start":
            try:
                request = CanaryRequest.model_validate(
                    {
                        **_subject(args),
                        "share": args.share,
                        "control_model": args.control_model,
                        "require_approval": args.require_approval,
                        "check_every_minutes": args.check_every_minutes,
                        "max_duration_hours": args.max_duration_hours,
                        "rule": CanaryRule(min_turns=args.min_turns),
                    }
                )
            except ValidationError as exc:
                raise RuntimeError(str(exc)) from exc
            try:
                started = await canary_start.start(
                    db,
                    client,
                    catalog_at(settings.router_catalog),
                    tenant_id=args.tenant,
                    actor="cli",
                    request=request,
                    operator_models={"small": settings.model_small or "", "large": settings.model_large or ""},
                    task_queue=settings.task_queue,
                    active_version=partial(active_version, pinned=pinned_agent_names(settings)),
                )
            except (ValueError, LookupError, canary_store.CanaryConflict) as exc:
                raise RuntimeError(str(exc)) from exc
            return _json(started)
        arg = (
            CanaryApproval(actor="cli")
            if args.canary_command == "approve"
            else CanaryAbort(actor="cli", reason=args.reason)
        )
        try:
            return _json(await canary_start.steer(db, client, args.tenant, args.canary_id, args.canary_command, arg))
        except LookupError as exc:
            raise RuntimeError(f"no canary {args.canary_id} for tenant {args.tenant}") from exc
    finally:
        await db.close()


def _canary(args: argparse.Namespace) -> int:
    settings = load_settings(args.data_dir)
    require_database(settings)
    print(json.dumps(run_database(_work(settings, args), f"{args.canary_command} the canary"), indent=2))
    return 0
