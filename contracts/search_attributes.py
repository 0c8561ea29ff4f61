"""The search attributes workflows carry, as typed keys: every workflow a tenant's request starts is tagged with
its tenant (`TenantId`), a conversation also with its channel and its current agent. The namespace registers
them (`core.stack.temporal`); operators filter on them in Temporal UI.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
AGENT = SearchAttributeKey.for_keyword("Agent")
