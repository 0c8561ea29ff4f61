"""One drill's report out of its servers' reports: the overall numbers the gauges and alerts read.

Pure and deterministic: `DrDrillWorkflow` calls it in workflow code. The servers are restored side by side,
so the overall RTO is the slowest server's and the overall RPO the worst database's; the histories, Redis and
the stores' coverage are the global server's (the only one that carries Redis and Temporal).
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.dr import GLOBAL_SCOPE, DatabaseReport, DrDrillReport, DrPlan


def refused(plan: DrPlan) -> list[DatabaseReport]:
    """A failed database report for every region the plan refused to back up with another scope's server."""
    out: list[DatabaseReport] = []
    for server in plan.servers:
        for refusal in server.refusals:
            scope = refusal.split(":", 1)[0]
            out.append(
                DatabaseReport(
                    scope=scope,
                    server=server.name,
                    backup_location="",
                    verified=False,
                    rto_seconds=0.0,
                    rpo_seconds=None,
                    backup_seconds=0.0,
                    backup_bytes=0,
                    problems=[f"not backed up: {refusal}"],
                )
            )
    return out


def combine(plan: DrPlan, parts: Sequence[DrDrillReport]) -> DrDrillReport:
    """The drill's report: `parts` are the servers' reports in plan order, the global server's first."""
    main = next((p for p in parts if any(d.scope == GLOBAL_SCOPE for d in p.databases)), parts[0])
    refusals = refused(plan)
    databases = [d for p in parts for d in p.databases] + refusals
    rpos = [d.rpo_seconds for d in databases]
    covered = dict(main.covered_at)
    for part in parts:
        if part is not main and part.databases:
            for store, at in part.covered_at.items():
                covered[f"{store}:{part.databases[0].server}"] = at
    notes = [n for server in plan.servers for n in server.notes]
    return DrDrillReport(
        drill_id=main.drill_id,
        started_at=main.started_at,
        finished_at=max(p.finished_at for p in parts),
        verified=all(p.verified for p in parts) and all(d.verified for d in databases),
        rto_seconds=max(p.rto_seconds for p in parts),
        rpo_seconds=None if any(r is None for r in rpos) else max(r for r in rpos if r is not None),
        backup_seconds=max(p.backup_seconds for p in parts),
        backup_bytes=sum(p.backup_bytes for p in parts),
        # The most any one database holds: the control plane holds a row of every tenant, so a sum would
        # count a tenant twice.
        tables=max((d.tables for d in databases), default=0),
        tenants=max((d.tenants for d in databases), default=0),
        rows=sum(d.rows for d in databases),
        mismatches=[m for p in parts for m in p.mismatches],
        audit_chains=sum(p.audit_chains for p in parts),
        audit_failures=[f for p in parts for f in p.audit_failures],
        audit_broken_at_source=[f for p in parts for f in p.audit_broken_at_source],
        histories_replayed=main.histories_replayed,
        histories_skipped=main.histories_skipped,
        histories_unreadable=main.histories_unreadable,
        replay_failures=main.replay_failures,
        redis_keys=main.redis_keys,
        covered_at=covered,
        problems=[p for part in parts for p in part.problems] + [p for d in refusals for p in d.problems],
        scratch_pids=[pid for p in parts for pid in p.scratch_pids],
        scratch_ports=[port for p in parts for port in p.scratch_ports],
        databases=databases,
        notes=notes,
    )
