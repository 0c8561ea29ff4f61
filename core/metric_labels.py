"""Tenants as a Prometheus label, with the number of series bounded.

An operator wants per-tenant series ("which tenant is being refused? who is spending?"), but tenants are
unbounded and every series costs the Prometheus server. So each process gives a label of its own to the
tenants named in `metrics_tenants` (always) and to the first `metrics_tenant_labels` other tenants it
meets (default 50); every further tenant is counted as `other`. A metric with a tenant label then has at
most (named + limit + 1) series per combination of its other labels, whatever the number of tenants.

The gateway and the worker configure this from settings at start (`configure_tenant_labels`); until then
the defaults apply.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

OTHER = "other"
DEFAULT_LIMIT = 50


class TenantLabels:
    def __init__(self, limit: int = DEFAULT_LIMIT, always: Iterable[str] = ()) -> None:
        self._limit = max(0, int(limit))
        self._always = frozenset(t for t in always if t)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, tenant_id: str | None) -> str:
        if not tenant_id:
            return OTHER
        if tenant_id in self._always or tenant_id in self._seen:
            return tenant_id
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(tenant_id)
                return tenant_id
        return OTHER

    @property
    def labelled(self) -> int:
        """Tenants given a label of their own so far, besides the named ones."""
        return len(self._seen)


_labels = TenantLabels()


def configure_tenant_labels(limit: int, always: Iterable[str] = ()) -> None:
    global _labels
    _labels = TenantLabels(limit, always)


def tenant_label(tenant_id: str | None) -> str:
    """The value of a metric's `tenant` label for `tenant_id`: its id, or `other` once the bound is reached."""
    return _labels(tenant_id)
