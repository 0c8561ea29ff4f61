"""Every benchmark by name, each measured against its own baseline in the same run.

python -m benchmarks NAME [ARGS]        (`just bench NAME [ARGS]`; `python -m benchmarks NAME --help`)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from benchmarks import (
    admission,
    audit_reseal,
    auth_overhead,
    billing_close,
    billing_year,
    canary_rule,
    canary_share,
    channel_dedupe,
    codec_overhead,
    console_knowledge,
    console_live,
    console_pages,
    deploy_drill,
    drift,
    early_exit,
    evals,
    evals_side_by_side,
    ingest_failures,
    injection,
    judge_agreement,
    knowledge_isolation,
    knowledge_reembed,
    knowledge_search,
    nightly_drift,
    noisy_neighbour,
    open_conversations,
    pii_detection,
    planted_suite,
    region_routing,
    replay_regression,
    routing,
    routing_live,
    saga_times,
    sealed_audit,
    sealed_fields,
    signup_latency,
    sse_streams,
    standby_failover,
    tool_overhead,
    tracing_overhead,
    turn_latency,
    turn_round_trips,
)
from benchmarks.load import gate as load_gate

BENCHMARKS: dict[str, tuple[Callable[[list[str] | None], int], str]] = {
    "turns": (turn_latency.main, "turn latency through the gateway against a bare Temporal update"),
    "round-trips": (turn_round_trips.main, "database statements and transactions per turn in the worker"),
    "tracing": (tracing_overhead.main, "turn latency with tracing off against sampled tracing, alternating"),
    "auth": (auth_overhead.main, "authentication per request: API keys, JWT, cached and uncached"),
    "codec": (codec_overhead.main, "payload encryption per payload against a no-op codec"),
    "admission": (admission.main, "admission decisions against a bare Redis round trip"),
    "tools": (tool_overhead.main, "the tool runtime's cost per call against a bare activity"),
    "sagas": (saga_times.main, "saga completion and compensation against bare activities"),
    "fairness": (noisy_neighbour.main, "one tenant's latency while another floods the queue"),
    "injection": (injection.main, "prompt-injection attack success and benign utility, policy on against off"),
    "pii": (pii_detection.main, "PII detection quality and speed against Presidio on generated sentences"),
    "early-exit": (early_exit.main, "early exit's cache lookup per turn: hit and opted-out against a miss"),
    "routing": (routing.main, "router v2 on MT-Bench against baseline routers; decision overhead; failover replay"),
    "routing-live": (routing_live.main, "router.decide on Postgres and Redis with the static embedding and without"),
    "ingest-failures": (ingest_failures.main, "200 files through 2 worker kills and a freeze: none lost or doubled"),
    "knowledge-isolation": (knowledge_isolation.main, "per-tenant top-10 under RLS: HNSW strategies vs exact"),
    "knowledge-reembed": (knowledge_reembed.main, "re-embed chunks/s, switch and purge, search latency during"),
    "knowledge-search": (knowledge_search.main, "search quality, latency at 100k chunks, ingestion pages/s"),
    "standby": (standby_failover.main, "a tenant's refused conversations while a streaming standby is promoted"),
    "drift": (drift.main, "nightly drift detection on 30 simulated days against Evidently's default tests"),
    "nightly-drift": (nightly_drift.main, "NightlyDriftWorkflow over 50 tenants x 30 days in Postgres, per phase"),
    "load": (load_gate.main, "Locust chat clients, gated on the committed baseline (needs the load extra)"),
    "conversations": (open_conversations.main, "open conversations in one worker: memory and sticky-cache hits"),
    "sse": (sse_streams.main, "open SSE streams per gateway process against bare Redis readers"),
    "billing_year": (billing_close.main, "a year of period closes against an oracle; 1,000-tenant close on Postgres"),
    "evals": (evals.main, "the golden suite as eval runs: wall time and pass rate against plain conversations"),
    "replay_regression": (
        replay_regression.main,
        "replay regression: planted regressions caught, against Temporal's Replayer",
    ),
    "planted_suite": (planted_suite.main, "20 planted regressions through the replay and the golden suite together"),
    "region_routing": (region_routing.main, "a tenant session routed to its region's database against one database"),
    "evals_side_by_side": (evals_side_by_side.main, "20 golden tasks graded by ours and by pydantic-evals"),
    "judge_agreement": (judge_agreement.main, "the rubric judge against hand labels: agreement, Cohen's kappa"),
    "console-live": (console_live.main, "a token from its write to the console's live view, against an API SSE client"),
    "console-knowledge": (
        console_knowledge.main,
        "the console's collection page with 5k documents against the JSON list",
    ),
    "console": (console_pages.main, "the console's conversations page with 10k conversations against the JSON list"),
    "billing": (billing_year.main, "a simulated year of invoices against an oracle; month-end close arithmetic"),
    "channels": (channel_dedupe.main, "10k replayed channel deliveries, 1,000 forgeries; verify+dedupe vs signature"),
    "signup": (signup_latency.main, "self-serve signup end to end against create_tenant + start_subscription"),
    "sealed-fields": (sealed_fields.main, "transcript write+read sealed against clear; rotation rows/s"),
    "audit-reseal": (audit_reseal.main, "re-anchoring an old audit chain against writing it; verify before and after"),
    "sealed-audit": (sealed_audit.main, "audit append, page and chain verify with sealed details against clear"),
    "canary_rule": (canary_rule.main, "the router canary's rule on simulated canaries against a naive rule"),
    "canary_share": (canary_share.main, "the canary's sticky share per kind against independent coin flips"),
    "deploy_drill": (deploy_drill.main, "an incompatible ConversationWorkflow released while conversations are open"),
}


def usage() -> str:
    lines = ["usage: python -m benchmarks NAME [ARGS]", ""]
    lines += [f"  {name:<10} {summary}" for name, (_main, summary) in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    entry = BENCHMARKS.get(args[0])
    if entry is None:
        print(f"unknown benchmark {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return entry[0](args[1:])


if __name__ == "__main__":
    sys.exit(main())
