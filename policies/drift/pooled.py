"""The model-mix test of a whole tenant: every agent's turns pooled, each valued against its own agent.

A router or a setting that moves turns towards a dearer model usually moves every agent of the tenant; the
per-agent mix tests then each see only their share of the turns, and a tenant with two agents has each test
at half its power. Pooling them, like for like: a turn is valued at its (agent, model) cell's baseline cost
per turn over its agent's baseline cost per turn. Over the baseline that value averages exactly one for every
agent, so the pooled mean moves with the moves between models within agents and with nothing else (not with
prices, tokens, or turns moving between agents); its relative change is the cost per turn the move alone
adds, averaged over the night's turns. One-sided (towards dearer models), sampling error only, as the
per-agent test (`policies.drift.stats.mix_test`).
"""

from __future__ import annotations

import numpy as np

from policies.drift.facts import ALL_AGENTS, ALL_MODELS, DriftConfig
from policies.drift.stats import MODEL_MIX, Columns, MetricTest, make_test, relative, z_p


def _means(keys: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and the mean cost of each."""
    names, inv = np.unique(keys, return_inverse=True)
    counts = np.bincount(inv, minlength=len(names))
    return names, np.bincount(inv, weights=cost, minlength=len(names)) / np.maximum(counts, 1)


def _lookup(names: np.ndarray, means: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's mean, and whether the key is one of `names`."""
    if not len(names):
        return np.zeros(len(keys)), np.zeros(len(keys), bool)
    at = np.minimum(np.searchsorted(names, keys), len(names) - 1)
    return means[at], names[at] == keys


def pooled_mix_test(base: Columns, cur: Columns, cfg: DriftConfig) -> MetricTest | None:
    """The tenant-wide mix test; None with one agent, too little data, or a single model."""
    if base.n < cfg.min_baseline_turns or cur.n < cfg.min_current_turns:
        return None
    if len(np.unique(base.agents)) < 2 or len(np.unique(np.concatenate([base.models, cur.models]))) < 2:
        return None
    cells, cell_cost = _means(base.cells, base.cost)
    agents, agent_cost = _means(base.agents, base.cost)
    # A model the agent never used in the baseline is valued at its cost last night.
    new_cells, new_cost = _means(cur.cells, cur.cost)

    def values(cols: Columns) -> tuple[np.ndarray, np.ndarray]:
        per_agent, known = _lookup(agents, agent_cost, cols.agents)
        known &= per_agent > 0
        cell, seen = _lookup(cells, cell_cost, cols.cells)
        cell = np.where(seen, cell, _lookup(new_cells, new_cost, cols.cells)[0])
        return (cell / np.where(known, per_agent, 1.0))[known], known

    vb, kb = values(base)
    vc, _ = values(cur)
    if len(vb) < cfg.min_baseline_turns or len(vc) < cfg.min_current_turns:
        return None
    p = z_p(vb, base.day[kb], vc, wobble=False)
    models, counts = np.unique(base.models, return_counts=True)
    top = str(models[int(np.argmax(counts))])
    return make_test(
        (ALL_AGENTS, ALL_MODELS),
        MODEL_MIX,
        len(vb),
        len(vc),
        float(np.mean(base.models == top)),
        float(np.mean(cur.models == top)) if cur.n else 0.0,
        relative(float(vc.mean()), float(vb.mean())),
        cfg.min_relative_effect,
        p,
    )
