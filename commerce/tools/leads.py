"""Sales leads: capture one (and upsert it into the CRM), score it by fixed rules, qualify it against a bar.

Scoring is deterministic and explainable on purpose: the same lead always gets the same score with the same
reasons, so a retried or replayed call changes nothing and a salesperson can see why a lead ranked where it
did. Lead ids are the tenant's (any of its conversations may score one); the answers carry no contact data.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from agents.sdk import ToolContext, ToolNotFound, tool
from agents.sealed_records import LEADS, open_fields, seal_fields
from commerce.tools.common import (
    LINE,
    TEXT,
    WRITE_RETRY,
    WRITE_TIMEOUT_SECONDS,
    Args,
    EmailStr,
    Out,
    UuidStr,
    call_key,
)
from contracts.agents import Effect
from contracts.provenance import ToolPolicy
from db.database import run_sql
from db.ids import new_id

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "yandex.com",
        "zoho.com",
    }
)
BUYING_WORDS = (
    "budget",
    "pricing",
    "price",
    "quote",
    "purchase",
    "buy",
    "demo",
    "enterprise",
    "contract",
    "licenses",
    "seats",
    "urgent",
    "timeline",
    "decision",
)
POINTS_COMPANY = 25
POINTS_BUSINESS_EMAIL = 25
POINTS_PHONE = 15
POINTS_PER_WORD = 7
MAX_WORD_POINTS = 35
DEFAULT_THRESHOLD = 60
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]{4,31}$"


class CaptureLeadArgs(Args):
    name: str = Field(min_length=1, max_length=200, pattern=LINE)
    email: EmailStr
    company: str = Field(default="", max_length=200, pattern=LINE)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    notes: str = Field(default="", max_length=2000, pattern=TEXT, description="what the prospect wants, in brief")


class LeadCaptured(Out):
    lead_id: str
    status: str
    crm_contact_id: str


class LeadRef(Args):
    lead_id: UuidStr


class QualifyLeadArgs(LeadRef):
    threshold: int = Field(default=DEFAULT_THRESHOLD, ge=0, le=100, description="the score a qualified lead reaches")


class LeadScored(Out):
    lead_id: str
    score: int
    reasons: list[str]


class LeadQualified(LeadScored):
    status: str
    threshold: int


def score_lead(email: str, company: str, phone: str | None, notes: str) -> tuple[int, list[str]]:
    """The lead's score (0-100) and the reasons for it."""
    score, reasons = 0, []
    if company.strip():
        score += POINTS_COMPANY
        reasons.append("company named")
    domain = email.rsplit("@", 1)[-1].lower()
    if domain and domain not in FREE_MAIL_DOMAINS:
        score += POINTS_BUSINESS_EMAIL
        reasons.append("business email domain")
    if phone:
        score += POINTS_PHONE
        reasons.append("phone number given")
    words = sorted({w for w in BUYING_WORDS if re.search(rf"\b{w}\b", notes.lower())})
    if words:
        score += min(MAX_WORD_POINTS, POINTS_PER_WORD * len(words))
        reasons.append("buying signals: " + ", ".join(words))
    return min(score, 100), reasons


@tool(
    "leads.capture",
    description=(
        "Record a sales lead (a prospect's name, email, company, optional phone and notes on what they want) "
        "and add them to the CRM. Ask for consent before capturing someone's contact details."
    ),
    effect=Effect.WRITE,
    # Capturing is the sales agent's job; whose details it captures must come from the prospect themselves.
    policy=ToolPolicy(grounded_args=["email"]),
    timeout_seconds=WRITE_TIMEOUT_SECONDS,
    retry=WRITE_RETRY,
)
async def capture_lead(ctx: ToolContext, args: CaptureLeadArgs) -> LeadCaptured:
    key = call_key(ctx)
    lead_id = new_id()
    values = {
        "name": args.name.strip(),
        "email": args.email,
        "company": args.company.strip(),
        "phone": args.phone,
        "notes": args.notes,
    }
    async with ctx.session() as session:
        await run_sql(
            session,
            "INSERT INTO leads (id, tenant_id, name, email, company, phone, source, notes, fields_sealed, key_version,"
            " email_hash, phone_hash, idempotency_key) "
            "VALUES (:id, :tid, :name, :email, :company, :phone, :source, :notes, :fields_sealed, :key_version,"
            " :email_hash, :phone_hash, :key) "
            "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
            {
                "id": lead_id,
                "tid": ctx.tenant_id,
                "source": f"conversation:{ctx.conversation_id}",
                "key": key,
                **await seal_fields(session, ctx.tenant_id, LEADS, lead_id, values),
            },
        )
        lead: Any = (
            await run_sql(session, "SELECT id, status FROM leads WHERE idempotency_key = :key", {"key": key})
        ).one()
    # After the lead is committed: a CRM outage is retried with the same key, and the retry finds the lead.
    contact = await ctx.connector("crm").upsert_contact(
        args.email,
        {"name": args.name.strip(), "company": args.company.strip(), "phone": args.phone, "lead_id": lead.id},
        call_key(ctx, "crm"),
    )
    return LeadCaptured(lead_id=lead.id, status=lead.status, crm_contact_id=contact.id)


async def _score(session: AsyncSession, lead_id: str) -> tuple[int, list[str]]:
    """Score the lead (locked for the rest of the transaction) and store the score."""
    row: Any = (
        await run_sql(session, f"SELECT {LEADS.columns} FROM leads WHERE id = :id FOR UPDATE", {"id": lead_id})  # noqa: S608
    ).first()
    if row is None:
        raise ToolNotFound("no such lead", details={"lead_id": lead_id})
    lead = await open_fields(session, LEADS, row)
    points, reasons = score_lead(lead["email"], lead["company"], lead["phone"], lead["notes"])
    await run_sql(
        session,
        "UPDATE leads SET score = :score, updated_at = now() WHERE id = :id AND score IS DISTINCT FROM :score",
        {"id": lead_id, "score": points},
    )
    return points, reasons


@tool(
    "leads.score",
    description=(
        "Score a captured lead from 0 to 100 by fixed rules (company named, business email, phone given, buying "
        "signals in the notes) and store the score. Returns the reasons for the score."
    ),
    effect=Effect.WRITE,
    policy=ToolPolicy(grounded_args=["lead_id"]),
    timeout_seconds=WRITE_TIMEOUT_SECONDS,
    retry=WRITE_RETRY,
)
async def score_captured_lead(ctx: ToolContext, args: LeadRef) -> LeadScored:
    async with ctx.session() as session:
        points, reasons = await _score(session, args.lead_id)
    return LeadScored(lead_id=args.lead_id, score=points, reasons=reasons)


@tool(
    "leads.qualify",
    description=(
        "Qualify a captured lead: scores it (as leads.score does) and marks it qualified when the score reaches "
        "the threshold (default 60), disqualified otherwise."
    ),
    effect=Effect.WRITE,
    policy=ToolPolicy(grounded_args=["lead_id"]),
    timeout_seconds=WRITE_TIMEOUT_SECONDS,
    retry=WRITE_RETRY,
)
async def qualify_lead(ctx: ToolContext, args: QualifyLeadArgs) -> LeadQualified:
    async with ctx.session() as session:
        points, reasons = await _score(session, args.lead_id)
        status = "qualified" if points >= args.threshold else "disqualified"
        await run_sql(
            session,
            "UPDATE leads SET status = :status, updated_at = now() WHERE id = :id AND status <> :status",
            {"id": args.lead_id, "status": status},
        )
    return LeadQualified(lead_id=args.lead_id, score=points, reasons=reasons, status=status, threshold=args.threshold)
