"""Channel deliveries: replays produce one message each, forgeries start nothing, and what verification and
deduplication cost per delivery against the signature check alone, in the same run.

    python -m benchmarks channels [--distinct 20] [--repeats 500] [--forged 1000] [--concurrency 32]

On a throwaway stack (Temporal, Postgres, Redis) with the platform's worker in process and the scripted
echo model answering, an SMS channel receives `distinct` messages, each delivered `repeats` times (10,000
deliveries by default). Few distinct messages: each is a whole conversation turn on the in-process worker,
while the deliveries under test are the repeats. They arrive shuffled, `concurrency` at a time, as a
provider's retries and a replaying attacker would. Each delivery goes the inbound route's way: open the
channel's sealed auth token, check the Twilio signature over URL and form, parse, claim the MessageSid in
Postgres, map the sender and submit to the conversation's run (`api.conversation_runs.submit`,
update-with-start). Counted afterwards from Postgres: the user messages in the transcripts, and the
deliveries that were taken. Then `forged` requests signed with the wrong token must leave no claim,
conversation or message behind.

Throughput is the duplicate path (every delivery after the first of its message: signature check and one
INSERT ... ON CONFLICT) against two baselines of the same run: the signature check alone, and the same
tenant-bound Postgres transaction running only `SELECT 1`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from api.channel_inbound import InboundPipeline
from api.conversation_runs import submit
from api.schemas import ConversationOut, MessageCreate
from app.worker import build_worker
from channels import parsing, signatures, store
from channels.secrets import ChannelSecrets
from core.crypto.secretbox import build_keyring
from core.logging import configure_logging
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.tenants import create_tenant

URL = "https://gateway.example/hooks/channels/T/C/sms"
TOKEN = "bench-twilio-auth-token"


def _form(sid: str, n: int) -> dict[str, str]:
    return {"MessageSid": sid, "From": f"+1555{n:07d}", "To": "+15559990000", "Body": f"question {n}"}


async def _rate(call: Callable[[], Awaitable[Any]], count: int, concurrency: int) -> float:
    """Calls per second, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    tenant = await create_tenant(settings.database_url or "", name=f"bench channels {uuid.uuid4().hex[:6]}",
                                 pepper=settings.api_key_pepper.get_secret_value())  # fmt: skip
    tid = tenant.tenant_id
    queue = f"bench-channels-{uuid.uuid4().hex[:6]}"
    worker_settings = settings.model_copy(update={"task_queue": queue, "model_small": "scripted/echo"})
    db = Database(settings.resolved_app_database_url(), pool_size=args.concurrency)
    secrets = ChannelSecrets(build_keyring(db, settings))
    channel_id = str(uuid.uuid4())
    sealed = await secrets.seal(tid, channel_id, "secret", TOKEN)
    async with db.tenant_session(tid) as session:
        channel = await store.create_channel(
            session, tid, channel_id=channel_id, kind="sms", name="bench", agent="support", provider_url="",
            settings={}, secret_ciphertext=sealed, token_ciphertext=None, public_key=None,
        )  # fmt: skip
    submissions: list[str] = []
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:

            async def to_run(tenant_id: str, conv: ConversationOut, message_id: str, body: MessageCreate) -> bool:
                submissions.append(message_id)
                accepted = await submit(deps.client, worker_settings, tenant_id, conv, message_id, body)
                return accepted.duplicate

            pipeline = InboundPipeline(db, to_run)

            async def deliver(form: dict[str, str], header: str) -> str:
                token = await secrets.open(tid, channel.id, "secret", sealed)
                try:
                    signatures.verify_twilio(token, URL, form.items(), header)
                except signatures.SignatureRejected:
                    return "refused"
                return (await pipeline.deliver(tid, channel, parsing.parse_twilio(form))).outcome

            forms = [_form(f"SM{uuid.uuid4().hex}", n) for n in range(args.distinct)]
            signed = [(f, signatures.twilio_signature(TOKEN, URL, f.items())) for f in forms]
            deliveries = [pair for pair in signed for _ in range(args.repeats)]
            random.Random(7).shuffle(deliveries)
            outcomes: dict[str, int] = {}
            gate = asyncio.Semaphore(args.concurrency)

            async def one(form: dict[str, str], header: str) -> None:
                async with gate:
                    for _ in range(10):  # a provider's retry of a delivery the run did not confirm in time
                        try:
                            outcome = await deliver(form, header)
                            break
                        except Exception:  # the claim was given back; deliver again
                            await asyncio.sleep(0.5)
                    else:
                        outcome = "gave up"
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1

            started = time.perf_counter()
            await asyncio.gather(*(one(f, s) for f, s in deliveries))
            replay_seconds = time.perf_counter() - started
            answered = await _wait_answered(db, tid, args.distinct)
            forged_outcomes: dict[str, int] = {}
            for n in range(args.forged):
                form = _form(f"SM{uuid.uuid4().hex}", 10_000_000 + n)
                outcome = await deliver(form, signatures.twilio_signature("not-the-auth-token", URL, form.items()))
                forged_outcomes[outcome] = forged_outcomes.get(outcome, 0) + 1

            async with db.tenant_session(tid) as session:
                per_message = (await run_sql(session, (
                    "SELECT m.cnt, COUNT(*) FROM (SELECT conversation_id, COUNT(*) AS cnt FROM messages"
                    " WHERE role = 'user' GROUP BY conversation_id) m GROUP BY m.cnt"
                ))).all()  # fmt: skip
                claims = (await run_sql(session, "SELECT state, COUNT(*) FROM channel_inbound GROUP BY state")).all()
                conversations = (await run_sql(session, "SELECT COUNT(*) FROM conversations")).scalar_one()

            dup_form, dup_header = signed[0]
            rates = {
                "signature check alone": await _rate(
                    lambda: asyncio.sleep(0, signatures.verify_twilio(TOKEN, URL, dup_form.items(), dup_header)),
                    args.throughput, 1,
                ),
                "tenant transaction, SELECT 1": await _rate(
                    lambda: _select_one(db, tid), args.throughput, args.concurrency
                ),
                "duplicate delivery (open token, verify, claim)": await _rate(
                    lambda: deliver(dup_form, dup_header), args.throughput, args.concurrency
                ),
            }  # fmt: skip
    finally:
        await db.close()
    return {
        "deliveries": len(deliveries),
        "distinct": args.distinct,
        "replay_seconds": replay_seconds,
        "answered_conversations": answered,
        "outcomes": outcomes,
        "submissions": len(submissions),
        "distinct_submissions": len(set(submissions)),
        "user_messages_per_conversation": {int(c): int(n) for c, n in per_message},
        "claims": {str(s): int(n) for s, n in claims},
        "conversations": int(conversations),
        "forged": args.forged,
        "forged_outcomes": forged_outcomes,
        "rates_per_second": rates,
    }


async def _wait_answered(db: Database, tid: str, expected: int, within: float = 300.0) -> int:
    """Conversations with an answer, once all have one (or the wait is over): no turn still recording."""
    deadline = time.monotonic() + within
    while True:
        async with db.tenant_session(tid) as session:
            sql = "SELECT COUNT(DISTINCT conversation_id) FROM messages WHERE role = 'assistant'"
            answered = int((await run_sql(session, sql)).scalar_one())
        if answered >= expected or time.monotonic() > deadline:
            return answered
        await asyncio.sleep(0.5)


async def _select_one(db: Database, tid: str) -> None:
    async with db.tenant_session(tid) as session:
        await run_sql(session, "SELECT 1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distinct", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--forged", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--throughput", type=int, default=2000, help="calls per throughput figure")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)
    with throwaway_stack("aiaas-bench-channels-") as settings:
        result = asyncio.run(_measure(settings, args))
    print(json.dumps(result, indent=1))
    per = result["user_messages_per_conversation"]
    exact = per == {1: args.distinct} and result["distinct_submissions"] == args.distinct
    forged_clean = result["forged_outcomes"] == {"refused": args.forged} and result["conversations"] == args.distinct
    rates = result["rates_per_second"]
    base = rates["signature check alone"]
    each = "exactly one message each" if exact else "NOT one message each"
    took = f"{result['replay_seconds']:.1f} s"
    print(f"\n{result['deliveries']} deliveries of {args.distinct} messages in {took}: {each}; {result['outcomes']}")
    verdict = "nothing started" if forged_clean else "SOMETHING STARTED"
    print(f"{args.forged} forged signatures: {result['forged_outcomes']}, {verdict}")
    for name, rate in rates.items():
        print(f"{name:<48} {rate:10.0f}/s  ({base / rate:6.1f}x the signature check's time)")
    return 0 if exact and forged_clean else 1
