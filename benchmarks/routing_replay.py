"""Replay turns through the real routing decision and fallback chain with failing providers.

Each provider call fails with probability `error_rate` (a 429 or a 503, as the provider would answer). A
turn's activity attempt walks its chain; Temporal retries a failed attempt (MODEL_CALL_RETRY), so a turn
counts as answered when one of its first two attempts is. Spend is charged at the price of the model that
answered; a tenant whose remaining hard budget pays for no small answer is blocked at admission, as the
gateway does. Every answering model is checked against the tenant's region.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from temporalio.exceptions import ApplicationError

from benchmarks.routing_table import features_of, prompts
from contracts.conversation import Tier
from contracts.errors import ModelErrorType
from router.canary import Canary
from router.catalog import Catalog
from router.classifier import PassClassifier
from router.fallback import run_chain
from router.features import PLANS
from router.health import LocalHealth
from router.policy import RoutingContext, decide

PRICE = {Tier.SMALL: 0.06, Tier.LARGE: 1.0}
REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-southeast")
CANARY_SHARE = 0.10
ATTEMPTS = 2


def replay(clf: PassClassifier, turns: int, *, error_rate: float = 0.2, tenants: int = 40, seed: int = 3) -> dict:
    return asyncio.run(_replay(clf, turns, error_rate, tenants, seed))


async def _replay(clf: PassClassifier, turns: int, error_rate: float, tenants: int, seed: int) -> dict:
    rng = random.Random(seed)
    catalog = Catalog.load()
    real = [m for r in REGIONS for m in catalog.in_region(r) if not m.name.startswith(("scripted/", "local/"))]
    fallbacks = {tier: tuple(dict.fromkeys(m.name for m in real if m.tier == tier)) for tier in Tier}
    texts = prompts()
    health = LocalHealth()
    now = [0.0]
    health.clock = lambda: now[0]
    hard = {t: (25.0 if t % 3 == 0 else None) for t in range(tenants)}
    spent: dict[int, float] = defaultdict(float)
    conversations: dict[int, list[str]] = defaultdict(list)
    answered = first_attempt = refused = failed = out_of_region = fallbacks_taken = 0
    canary_convs: dict[str, bool] = {}

    for n in range(turns):
        now[0] = n * 0.2
        tenant = rng.randrange(tenants)
        region, plan = REGIONS[tenant % len(REGIONS)], PLANS[tenant % len(PLANS)]
        if not conversations[tenant] or rng.random() < 0.9:
            conversations[tenant].append(f"t{tenant}-c{n}")
        conversation = conversations[tenant][-1]
        limit = hard[tenant]
        left = None if limit is None else limit - spent[tenant]
        if left is not None and left < PRICE[Tier.SMALL]:
            refused += 1  # blocked at admission: over the hard budget
            continue
        # Canary tenants try a new model of one tier (small for some, large for others) on 10 % of conversations.
        canary_tier = Tier.SMALL if tenant % 4 == 0 else Tier.LARGE
        canary_model = [m for m in fallbacks[canary_tier] if catalog.allowed(m, region)][-1]
        ctx = RoutingContext(
            region=region,
            plan=plan,
            budget_left_fraction=None if limit is None or left is None else left / limit,
            large_affordable=left is None or left >= PRICE[Tier.LARGE],
            fallbacks=fallbacks,
            canary=Canary(f"canary-{tenant}", canary_model, CANARY_SHARE) if tenant % 2 == 0 else None,
        )
        prompt = texts[rng.randrange(len(texts))]
        decision = decide(features_of(prompt, plan), ctx, clf, catalog, conversation_id=conversation)
        if ctx.canary is not None and decision.tier == canary_tier:
            canary_convs.setdefault(conversation, decision.canary)

        async def call(model: str) -> str:
            if rng.random() < error_rate:
                kind = ModelErrorType.RATE_LIMITED if rng.random() < 0.5 else ModelErrorType.UNAVAILABLE
                raise ApplicationError(f"{model}: injected", {"model": model}, type=kind)
            return model

        async def moved(_from: str, _to: str, _cause: str) -> None:
            nonlocal fallbacks_taken
            fallbacks_taken += 1

        model = None
        for attempt in range(ATTEMPTS):
            try:
                model, _ = await run_chain(
                    decision.chain, call, health, catalog=catalog, region=region, on_fallback=moved
                )
                first_attempt += attempt == 0
                break
            except ApplicationError:
                continue
        if model is None:
            failed += 1
            continue
        answered += 1
        info = catalog.get(model)
        assert info is not None
        out_of_region += not info.serves(region) or any(not catalog.allowed(m, region) for m in decision.chain)
        spent[tenant] += PRICE[info.tier]
    served = answered + failed
    over = sum(1 for t, limit in hard.items() if limit is not None and spent[t] > limit)
    share = sum(canary_convs.values()) / max(len(canary_convs), 1)
    return {
        "turns admitted": served,
        "refused at admission (hard budget)": refused,
        "answered (within 2 attempts)": f"{answered / served:.5f}  (goal >= 0.999)",
        "answered on the first attempt": f"{first_attempt / served:.5f}",
        "fallbacks taken": fallbacks_taken,
        "tenants over their hard budget": over,
        "answers or chains outside the region": out_of_region,
        "canary share of eligible conversations": f"{share:.4f}  (target {CANARY_SHARE}, +-0.01)",
        "conversations eligible for a canary": len(canary_convs),
    }
