"""Self-serve signup end to end on the embedded stack, against a plain tenant creation in the same run.

Ours: start a `SignupWorkflow` as `POST /v1/signup` does, wait for its mail in the outbox directory, read the
token, verify it as `POST /v1/signup/verify` does (HMAC check, the `verify` update, GETDEL of the first key),
and wait for the run's end: the tenant, its owner key and its trial subscription exist. Baseline, same worker,
same server, same run: what an operator's path costs for the same result without any of signup's parts,
`tenant_admin.create_tenant` (one transaction) plus `start_subscription`. HTTP is left out of both. Prints
p50/p95 of each and the ratio of the medians, and the time spent waiting for the mail on its own.

    python -m benchmarks signup --signups 30
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 99
    return {"p50": statistics.median(ordered) * 1000, "p95": q[94] * 1000, "n": len(ordered)}


def _report(name: str, samples: list[float]) -> dict[str, float]:
    got = _stats(samples)
    print(f"{name:<44} n={int(got['n']):<4} p50={got['p50']:8.1f} ms  p95={got['p95']:8.1f} ms")
    return got


def _take_token(mail: Path, email: str) -> str | None:
    for path in mail.glob("*.eml") if mail.is_dir() else []:
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        if parsed["To"] == email:
            path.unlink()
            return str(TOKEN.findall(str(parsed.get_body().get_content()))[0])  # type: ignore[union-attr]
    return None


async def _token_for(mail: Path, email: str) -> str:
    for _ in range(60_000):  # five minutes
        token = _take_token(mail, email)
        if token is not None:
            return token
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no mail to {email}")


async def _measure(settings: Any, args: argparse.Namespace, data_dir: Path) -> None:
    from redis.asyncio import Redis

    from app.worker import build_worker
    from billing.starter import initial_state, start_subscription
    from contracts.signup import SignupInput, VerifyRequest, VerifyResult, first_key_redis_key, signup_workflow_id
    from db.database import Database
    from db.migrate import migrate
    from tenancy.signup_tokens import email_digest, verify
    from tenancy.tenant_admin import create_tenant
    from workflows.signup import SignupWorkflow

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    queue = f"bench-signup-{uuid.uuid4().hex[:6]}"
    settings = settings.model_copy(update={"data_dir": data_dir, "task_queue": queue})
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    redis = Redis.from_url(settings.redis_url or "")
    secret, pepper = settings.signup_key(), settings.api_key_pepper.get_secret_value()
    base_times: list[float] = []
    ours: list[float] = []
    mail_wait: list[float] = []
    try:
        async with build_worker(settings, task_queue=queue) as deps, deps.worker:
            client = deps.client

            async def baseline() -> None:
                started = time.perf_counter()
                created = await create_tenant(
                    db, name=f"Bench {uuid.uuid4().hex[:8]}", plan="pro", data_region="eu-west", pepper=pepper,
                    actor="bench",
                )  # fmt: skip
                state = initial_state(created.record.id, "pro", now=datetime.now(UTC), trial_days=14)
                await start_subscription(client, queue, state)
                base_times.append(time.perf_counter() - started)

            async def signup() -> None:
                email = f"bench.{uuid.uuid4().hex[:10]}@example.com"
                digest = email_digest(secret, email)
                started = time.perf_counter()
                handle = await client.start_workflow(
                    SignupWorkflow.run,
                    SignupInput(signup_id=str(uuid.uuid4()), company="Bench", email=email, email_digest=digest),
                    id=signup_workflow_id(digest),
                    task_queue=queue,
                )
                token = verify(secret, await _token_for(data_dir / "mail", email))
                mailed = time.perf_counter()
                await handle.execute_update("verify", VerifyRequest(nonce=token.nonce), result_type=VerifyResult)
                assert await redis.getdel(first_key_redis_key(digest)) is not None
                await handle.result()
                ours.append(time.perf_counter() - started)
                mail_wait.append(mailed - started)

            for _ in range(args.warmup):
                await baseline()
                await signup()
            base_times.clear(), ours.clear(), mail_wait.clear()
            for _ in range(args.signups):  # interleaved, so both see the same machine
                await baseline()
                await signup()
    finally:
        await db.close()
        await redis.aclose()
    print(f"signup end to end, {args.signups} each, one at a time (after {args.warmup} warm-up runs):")
    base = _report("baseline: create_tenant + start_subscription", base_times)
    mine = _report("signup: mail, verify, tenant, subscription", ours)
    _report("  of which: until the mail was written", mail_wait)
    print(f"ratio p50 signup/baseline = {mine['p50'] / base['p50']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from core.logging import configure_logging
    from core.settings import Settings
    from core.stack.stack import throwaway_stack

    configure_logging("WARNING", json_output=True)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-signup-") as tmp:
        base = Settings()
        if base.temporal_address and base.database_url and base.redis_url:
            asyncio.run(_measure(base, args, Path(tmp)))
        else:
            with throwaway_stack("aiaas-bench-signup-", env="test", log_level="WARNING") as settings:
                asyncio.run(_measure(settings, args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
