"""What every tenant table holds of one end customer, and what erasure does to it.

Every table with a `tenant_id` (and `tenants`) is named here, whatever it holds: `tests/policies/erasure/
test_plan.py` reads the catalog and fails when a table is missing, so a table added later is decided on, not
forgotten. Rules run in the order listed (children before the rows they reference), inside one transaction.

The statements take these parameters, all derived in `store.py` from the customer's row:
`:cid` the customer's id, `:convs` their conversation ids, `:email` (lower case, NULL when unknown), `:phone`
(may be NULL), `:email_hash` and `:phone_hash` (their keyed hashes, `core.crypto.fields.blind_index`, what
sealed rows are matched by: leads and CRM contacts keep no clear email or phone),
`:sources` (`conversation:<id>` for each conversation, how tools label what a conversation created) and
`:needles` (the conversation ids and the customer id, looked for inside free-text payloads).

Anonymise, not delete, where a row carries amounts the books need: an order keeps its total and lines, the
customer row stays as a tombstone the orders point at, the ledger keeps its costs. None of them keeps a value
that identifies the person.
"""

# ruff: noqa: S608  # the statements are assembled from constants of this module; values are bound parameters
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    # Nothing of the customer's is in the table (configuration, aggregates) or only random ids that point at
    # rows erasure removes.
    KEEP = "keep"


@dataclass(frozen=True)
class Rule:
    table: str
    action: Action
    why: str
    sql: str = ""


_CONVS = "conversation_id = ANY(CAST(:convs AS text[]))"
_MENTIONS = "EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) AS n(v) WHERE strpos({column}, n.v) > 0)"
# Sealed rows are matched by keyed hash; a row from before sealing (still in clear until key rotation seals it)
# by its clear value.
_IN_CLEAR = "fields_sealed IS NULL"
_LEADS = (
    "email_hash = :email_hash OR phone_hash = :phone_hash OR source = ANY(CAST(:sources AS text[]))"
    f" OR ({_IN_CLEAR} AND (lower(email) = :email OR phone = CAST(:phone AS text)))"
)
_LEAD_EMAIL_HASHES = f"SELECT email_hash FROM leads WHERE email_hash IS NOT NULL AND ({_LEADS})"
_CUSTOMER_DOCUMENTS = "SELECT id FROM knowledge_documents WHERE metadata->>'customer_id' = :cid"
_CUSTOMER_ORDERS = "SELECT id FROM orders WHERE customer_id = :cid"
_MATCHED_MESSAGES = "SELECT id FROM webhook_messages WHERE " + _MENTIONS.format(column="payload")

RULES: tuple[Rule, ...] = (
    # ---- transcripts and what the turns did --------------------------------------------------------------
    Rule("public.tool_calls", Action.DELETE, "tool arguments and results", f"DELETE FROM tool_calls WHERE {_CONVS}"),
    Rule("public.approvals", Action.DELETE, "tool arguments put to staff", f"DELETE FROM approvals WHERE {_CONVS}"),
    # Before the messages that say which days the customer asked on: those days' facts are read again from
    # what is left, so the next nights' baselines hold none of the customer's turns.
    Rule(
        "public.drift_day_facts",
        Action.DELETE,
        "per-turn cost, tokens and latency of the days they asked on",
        "DELETE FROM drift_day_facts WHERE day IN (SELECT DISTINCT CAST(created_at AT TIME ZONE 'UTC' AS date)"
        f" FROM messages WHERE role = 'user' AND {_CONVS})",
    ),
    Rule("public.messages", Action.DELETE, "the transcript", f"DELETE FROM messages WHERE {_CONVS}"),
    Rule(
        "public.tickets",
        Action.DELETE,
        "what the customer reported",
        f"DELETE FROM tickets WHERE customer_id = :cid OR {_CONVS}",
    ),
    # ---- people the tools wrote down ---------------------------------------------------------------------
    # Contacts first: the leads they copy say which other addresses the customer's conversations captured.
    Rule(
        "public.sandbox_crm_contacts",
        Action.DELETE,
        "the CRM's copy of a lead",
        f"DELETE FROM sandbox_crm_contacts WHERE email_hash = :email_hash OR email_hash IN ({_LEAD_EMAIL_HASHES})"
        f" OR ({_IN_CLEAR} AND lower(email) = :email)",
    ),
    Rule(
        "public.leads",
        Action.DELETE,
        "name, email, phone and notes, captured in their conversations or under their email or phone",
        f"DELETE FROM leads WHERE {_LEADS}",
    ),
    # ---- events told to the tenant's webhooks about their conversations ---------------------------------
    Rule(
        "public.webhook_attempts",
        Action.DELETE,
        "attempts of deliveries of messages about them",
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE message_id IN "
        f"({_MATCHED_MESSAGES}))",
    ),
    Rule(
        "public.webhook_deliveries",
        Action.DELETE,
        "deliveries of messages about them",
        f"DELETE FROM webhook_deliveries WHERE message_id IN ({_MATCHED_MESSAGES})",
    ),
    Rule(
        "public.webhook_messages",
        Action.DELETE,
        "event payloads naming their conversations",
        "DELETE FROM webhook_messages WHERE " + _MENTIONS.format(column="payload"),
    ),
    # ---- knowledge -----------------------------------------------------------------------------------------
    Rule(
        "public.knowledge_customer_groups",
        Action.DELETE,
        "which groups they search as",
        "DELETE FROM knowledge_customer_groups WHERE customer_id = :cid",
    ),
    Rule(
        "public.knowledge_chunks",
        Action.DELETE,
        "text of documents linked to them",
        f"DELETE FROM knowledge_chunks WHERE document_id IN ({_CUSTOMER_DOCUMENTS})",
    ),
    Rule(
        "public.knowledge_sources",
        Action.DELETE,
        "originals of documents linked to them",
        f"DELETE FROM knowledge_sources WHERE document_id IN ({_CUSTOMER_DOCUMENTS})",
    ),
    Rule(
        "public.knowledge_documents",
        Action.DELETE,
        "documents whose metadata names them as `customer_id`",
        "DELETE FROM knowledge_documents WHERE metadata->>'customer_id' = :cid",
    ),
    # ---- commerce: the books keep amounts, not identities -------------------------------------------------
    Rule(
        "public.shipments",
        Action.ANONYMISE,
        "a tracking number finds a parcel and its address",
        f"UPDATE shipments SET tracking_number = 'erased', external_ref = NULL WHERE order_id IN ({_CUSTOMER_ORDERS})"
        " AND tracking_number <> 'erased'",
    ),
    Rule(
        "public.orders",
        Action.ANONYMISE,
        "the note is free text (sealed, or in clear from before sealing); totals, status and lines stay",
        "UPDATE orders SET note = '', fields_sealed = NULL, key_version = NULL"
        " WHERE customer_id = :cid AND (note <> '' OR fields_sealed IS NOT NULL)",
    ),
    Rule(
        "public.channel_identities",
        Action.DELETE,
        "the customer's phone number, email address or chat-app id on a channel",
        f"DELETE FROM channel_identities WHERE customer_id = :cid OR {_CONVS}",
    ),
    Rule(
        "public.channel_replies",
        Action.DELETE,
        "which answers went out through a channel",
        f"DELETE FROM channel_replies WHERE {_CONVS}",
    ),
    Rule(
        "public.channel_inbound",
        Action.ANONYMISE,
        "the provider's message ids stay (a late provider retry must not bring an erased message back); the "
        "link to the conversation goes",
        f"UPDATE channel_inbound SET conversation_id = NULL WHERE {_CONVS}",
    ),
    Rule(
        "public.conversations",
        Action.DELETE,
        "channel metadata",
        "DELETE FROM conversations WHERE id = ANY(CAST(:convs AS text[]))",
    ),
    Rule(
        "public.customers",
        Action.ANONYMISE,
        "kept as a tombstone that orders point at, with nothing of the person",
        "UPDATE customers SET email = 'erased-' || id || '@erased.invalid', name = '', phone = NULL, email_hash = NULL "
        "WHERE id = :cid AND name <> ''",
    ),
    Rule(
        "audit.events",
        Action.ANONYMISE,
        "append-only: events keep ids and counts; the sealed part (an approval's arguments, a decision's note) of"
        " events naming their conversations or them is emptied, its digest stays in the hash chain",
        "UPDATE audit.events SET sealed = NULL, sealed_key = NULL, key_version = NULL WHERE sealed_key IS NOT NULL"
        " AND (details->>'conversation_id' = ANY(CAST(:convs AS text[])) OR details->>'customer_id' = :cid)",
    ),
    # ---- nothing of theirs ---------------------------------------------------------------------------------
    Rule(
        "audit.reanchors",
        Action.KEEP,
        "hash ranges and signatures of re-anchored audit chains; the values they moved are sealed in audit.events",
    ),
    Rule("public.order_lines", Action.KEEP, "skus, quantities and prices of anonymised orders"),
    Rule("public.reservations", Action.KEEP, "stock held for an order: skus and quantities"),
    Rule("public.sandbox_payments", Action.KEEP, "amounts and charge ids"),
    Rule("public.sandbox_shipments", Action.KEEP, "shipment status by order"),
    Rule("public.usage_ledger", Action.KEEP, "costs and token counts; conversation ids point at deleted rows"),
    Rule("public.drift_reports", Action.KEEP, "aggregates over every conversation of a night"),
    Rule("public.drift_advice_applied", Action.KEEP, "configuration changes"),
    Rule("public.channels", Action.KEEP, "tenant configuration: providers, sealed credentials"),
    Rule("public.subscriptions", Action.KEEP, "the tenant's plan and billing state; no end customer"),
    Rule("public.billing_sandbox_charges", Action.KEEP, "charges to the tenant: amounts and idempotency keys"),
    Rule("public.eval_runs", Action.KEEP, "eval runs over golden tasks: synthetic customers in eval tenants"),
    Rule("public.eval_results", Action.KEEP, "graded golden tasks: synthetic conversations, never a real customer's"),
    Rule("public.erasures", Action.KEEP, "the erasure itself: ids, counts and the signed report"),
    Rule("public.tenants", Action.KEEP, "the tenant"),
    Rule("public.api_keys", Action.KEEP, "tenant configuration"),
    Rule("public.memberships", Action.KEEP, "the tenant's staff"),
    Rule(
        "public.invitations",
        Action.DELETE,
        "an address invited to join the tenant (a membership it led to stays)",
        "DELETE FROM invitations WHERE lower(email) = :email",
    ),
    Rule("public.tenant_data_keys", Action.KEEP, "wrapped keys"),
    Rule("public.privacy_signing_keys", Action.KEEP, "the tenant's report-signing key"),
    Rule("public.privacy_policies", Action.KEEP, "tenant configuration"),
    Rule("public.retention_policies", Action.KEEP, "tenant configuration"),
    Rule("public.products", Action.KEEP, "the catalogue"),
    Rule("public.sandbox_faults", Action.KEEP, "test faults of a sandbox connector"),
    Rule("public.connector_configs", Action.KEEP, "tenant configuration"),
    Rule("public.tenant_tools", Action.KEEP, "tenant configuration"),
    Rule("public.agent_definitions", Action.KEEP, "tenant configuration"),
    Rule("public.budgets", Action.KEEP, "tenant configuration"),
    Rule("public.knowledge_collections", Action.KEEP, "tenant configuration"),
    Rule("public.knowledge_reembeds", Action.KEEP, "a collection's model changes: models and counts"),
    Rule("public.webhook_endpoints", Action.KEEP, "tenant configuration"),
    Rule("public.invoice_counters", Action.KEEP, "the tenant's invoice numbering"),
    Rule("public.invoices", Action.KEEP, "the tenant's invoices from the platform"),
    Rule("public.billing_payments", Action.KEEP, "the tenant's payments to the platform"),
    Rule("public.tenant_router_settings", Action.KEEP, "tenant configuration"),
    Rule("public.tenant_routers", Action.KEEP, "the tenant's trained routing classifier"),
    Rule("public.router_canaries", Action.KEEP, "router canaries: models, shares and aggregate comparisons"),
)

BY_TABLE: dict[str, Rule] = {rule.table: rule for rule in RULES}
ERASING: tuple[Rule, ...] = tuple(rule for rule in RULES if rule.action is not Action.KEEP)
