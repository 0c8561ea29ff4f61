"""A tenant label per tenant, up to a bound per process; named tenants always; everyone else is `other`."""

from __future__ import annotations

import threading

from core.metric_labels import OTHER, TenantLabels


def test_the_first_tenants_get_their_own_label_and_keep_it() -> None:
    labels = TenantLabels(limit=2)
    assert [labels("t1"), labels("t2"), labels("t3")] == ["t1", "t2", OTHER]
    # Seen before: still labelled; later ones stay `other`.
    assert [labels("t2"), labels("t1"), labels("t4"), labels("t3")] == ["t2", "t1", OTHER, OTHER]
    assert labels.labelled == 2


def test_named_tenants_are_labelled_without_using_the_bound() -> None:
    labels = TenantLabels(limit=1, always=["vip"])
    assert [labels("t1"), labels("vip"), labels("t2")] == ["t1", "vip", OTHER]
    assert labels.labelled == 1


def test_no_tenant_and_a_zero_bound_count_as_other() -> None:
    assert TenantLabels(limit=5)(None) == OTHER
    assert TenantLabels(limit=5)("") == OTHER
    assert TenantLabels(limit=0)("t1") == OTHER


def test_the_bound_holds_under_threads() -> None:
    labels = TenantLabels(limit=10)
    seen: set[str] = set()
    lock = threading.Lock()

    def label_many(offset: int) -> None:
        for i in range(200):
            value = labels(f"t{offset}-{i}")
            with lock:
                seen.add(value)

    threads = [threading.Thread(target=label_many, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen - {OTHER}) == 10 and labels.labelled == 10
