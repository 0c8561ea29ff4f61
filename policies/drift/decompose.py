"""Why an agent's daily cost changed: volume, model mix, tokens per turn and price, summing to the change.

With `N` turns a day, model shares `s_m`, tokens per turn `u_m` and cost per token `p_m` (so a turn on `m`
costs `c_m = u_m p_m`), a day costs `C = N sum_m s_m c_m`. From the baseline's average day (0) to last night (1):

    volume = (N1 - N0) sum s0 c0          more or fewer turns at the old mix and costs
    mix    = N1 sum (s1 - s0) c0          turns moved between models
    usage  = N1 sum s1 (u1 - u0) p0       more or fewer tokens per turn at the old price
    price  = N1 sum s1 u1 (p1 - p0)       a token costs more or less

which telescopes to exactly C1 - C0. A model new last night is valued at its own cost (no usage or price
effect: there is nothing to compare with). The sums are taken in exact rational arithmetic and rounded to the
ledger's six places once, with the rounding remainder given to the largest effect, so the four printed
effects add up to the printed change to the last digit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from policies.drift.facts import TurnFact

EFFECTS = ("volume", "mix", "usage", "price")
_PLACES = Decimal("0.000001")
_MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class CostDecomposition:
    agent: str
    baseline_daily_usd: Decimal
    current_usd: Decimal
    change_usd: Decimal
    volume_usd: Decimal
    mix_usd: Decimal
    usage_usd: Decimal
    price_usd: Decimal

    def effects(self) -> dict[str, Decimal]:
        return {name: getattr(self, f"{name}_usd") for name in EFFECTS}

    @property
    def dominant(self) -> str:
        return max(EFFECTS, key=lambda name: abs(getattr(self, f"{name}_usd")))

    @property
    def dominant_per_turn(self) -> str:
        """What moved the cost of a turn most: mix, usage or price (volume moves the day, not the turn)."""
        return max(EFFECTS[1:], key=lambda name: abs(getattr(self, f"{name}_usd")))


@dataclass
class _Totals:
    turns: int = 0
    # Micro-dollars: the ledger's numeric(14, 6) exactly, and integer sums are fast and exact.
    micros: int = 0
    tokens: int = 0

    @property
    def cost(self) -> Fraction:
        return Fraction(self.micros, _MICROS)


def _by_model(facts: Sequence[TurnFact]) -> dict[str, _Totals]:
    out: dict[str, _Totals] = defaultdict(_Totals)
    for fact in facts:
        t = out[fact.model]
        t.turns += 1
        t.micros += round(fact.cost_usd * _MICROS)
        t.tokens += fact.tokens
    return out


def _money(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_PLACES, rounding=ROUND_HALF_EVEN)


def decompose(
    agent: str, baseline: Sequence[TurnFact], baseline_days: int, current: Sequence[TurnFact]
) -> CostDecomposition:
    if baseline_days < 1:
        raise ValueError("baseline_days must be at least 1")
    base, cur = _by_model(baseline), _by_model(current)
    n0, n1 = Fraction(len(baseline), baseline_days), Fraction(len(current))
    cost0 = sum((t.cost for t in base.values()), Fraction(0)) / baseline_days
    cost1 = sum((t.cost for t in cur.values()), Fraction(0))
    avg0 = cost0 / n0 if n0 else Fraction(0)
    effects = dict.fromkeys(EFFECTS, Fraction(0))
    effects["volume"] = (n1 - n0) * avg0
    for model in base.keys() | cur.keys():
        b, c = base.get(model), cur.get(model)
        s0 = Fraction(b.turns, len(baseline)) if b else Fraction(0)
        s1 = Fraction(c.turns, len(current)) if c else Fraction(0)
        c1 = c.cost / c.turns if c else Fraction(0)
        c0 = b.cost / b.turns if b else c1
        effects["mix"] += n1 * (s1 - s0) * c0
        if not (b and c):
            continue
        if b.tokens and c.tokens:
            u0, u1 = Fraction(b.tokens, b.turns), Fraction(c.tokens, c.turns)
            p0, p1 = b.cost / b.tokens, c.cost / c.tokens
            effects["usage"] += n1 * s1 * (u1 - u0) * p0
            effects["price"] += n1 * s1 * u1 * (p1 - p0)
        else:
            effects["price"] += n1 * s1 * (c1 - c0)
    assert sum(effects.values()) == cost1 - cost0  # the identity, exactly
    change = _money(cost1) - _money(cost0)
    rounded = {name: _money(value) for name, value in effects.items()}
    largest = max(EFFECTS, key=lambda name: abs(effects[name]))
    rounded[largest] += change - sum(rounded.values())
    return CostDecomposition(
        agent=agent,
        baseline_daily_usd=_money(cost0),
        current_usd=_money(cost1),
        change_usd=change,
        **{f"{name}_usd": rounded[name] for name in EFFECTS},
    )
