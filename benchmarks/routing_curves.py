"""The routing benchmark's cost/quality curve: the quality at each strong share when the lowest-scored rows
go to the large tier, and the cost of reaching a quality goal on it.

Ties: rows with equal scores are one block, and a share that cuts a block counts its mean gain (the expected
quality of any tie-break). Until December 2026 ties were broken by row index, which is table order, and
MT-Bench's file is sorted by category: a router that gives many prompts one probability (an isotonic
staircase, the category-known row) then had its ties ordered by the hidden category, writing and role-play
first, then reasoning and maths before coding, extraction, STEM and humanities. `benchmarks.routing` prints
both figures.
"""

from __future__ import annotations

from collections.abc import Sequence

COST_RATIO = 0.15 / 2.5  # gpt-4o-mini over gpt-4o, input tokens


def curve(scores: Sequence[float], small: Sequence[int], large: Sequence[int]) -> list[tuple[float, float]]:
    """(strong share, quality) when the lowest-scored rows go large, for every share in steps of 1/200.

    Rows with equal scores are one block: a share that cuts a block sends a random part of it large, so the
    block counts with its mean gain (the expected quality of any tie-break), never in table order.
    """
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    n = len(order)
    gain = [0.0]  # gain[k]: large minus small over the k lowest-scored rows
    for i in order:
        gain.append(gain[-1] + large[i] - small[i])
    block_start = [0] * (n + 1)  # for a cut after k rows: where the block holding row k-1 starts
    block_end = [0] * (n + 1)
    start = 0
    while start < n:
        end = start
        while end < n and scores[order[end]] == scores[order[start]]:
            end += 1
        for k in range(start + 1, end + 1):
            block_start[k], block_end[k] = start, end
        start = end
    base = sum(small)
    out = []
    for step in range(201):
        k = round(n * step / 200)
        a, b = block_start[k], block_end[k]
        cut = gain[k] if k in (0, b) else gain[a] + (k - a) / (b - a) * (gain[b] - gain[a])
        out.append((k / n, (base + cut) / n))
    return out


def curve_in_table_order(
    scores: Sequence[float], small: Sequence[int], large: Sequence[int]
) -> list[tuple[float, float]]:
    """The curve as measured before ties were blocks: equal scores broken by row index, i.e. table order.

    MT-Bench's file is sorted by category, so this tie-break reads the hidden category whenever a router
    gives many prompts one probability (an isotonic staircase does); kept to show both figures.
    """
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    n = len(order)
    out = []
    for step in range(201):
        k = round(n * step / 200)
        strong = set(order[:k])
        out.append((k / n, sum(large[i] if i in strong else small[i] for i in range(n)) / n))
    return out


def at_share(curve: list[tuple[float, float]], share: float) -> float:
    return min(curve, key=lambda point: abs(point[0] - share))[1]


def cost_at_quality(curve: list[tuple[float, float]], goal: float) -> float:
    share = next((s for s, q in curve if q >= goal), 1.0)
    return share + (1 - share) * COST_RATIO
