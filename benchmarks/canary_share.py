"""The canary's share of a tenant's conversations, per kind of canary, against independent coin flips.

For each kind (model, agent_version, router_threshold) and each target share, `--tenants` tenants each
assign `--conversations` fresh conversation ids (uuid4) with the router's sticky hash
(`router.canary.assignment`: the share a turn's routing and agent resolution use). Reported per kind and
share: the share over every id of every tenant (the hash's bias), the worst tenant's deviation, and the
share of tenants whose own share is within +-1 point of the target. The baseline, in the same run on the
same ids, is the ideal randomised assignment: an independent coin flip per conversation (`random`), which
no sticky rule can beat on the spread, since its per-tenant spread is the binomial one,
sqrt(share x (1 - share) / conversations), also printed. Also the hash's cost per decision against the coin.

    python -m benchmarks canary_share [--tenants 200 --conversations 1000 --seed 7]
"""

from __future__ import annotations

import argparse
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence

from contracts.canary import AgentVersionSubject, ModelSubject, RouterThresholdSubject
from router.canary import assignment

SHARES = (0.05, 0.10, 0.25, 0.50)
SUBJECTS = (
    ModelSubject(model="azure/gpt-4o-mini-eu"),
    AgentVersionSubject(agent="support", version=3),
    RouterThresholdSubject(threshold=0.42),
)


def _ids(rng: random.Random, n: int) -> list[str]:
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def _spread(shares: list[float], target: float) -> tuple[float, float, float]:
    """Mean share, worst absolute deviation, fraction of tenants within +-1 point."""
    mean = sum(shares) / len(shares)
    worst = max(abs(s - target) for s in shares)
    within = sum(1 for s in shares if abs(s - target) <= 0.01 + 1e-12) / len(shares)
    return mean, worst, within


def _timed(fn: Callable[[str], bool], ids: list[str]) -> float:
    start = time.perf_counter()
    for cid in ids:
        fn(cid)
    return (time.perf_counter() - start) / len(ids)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks canary_share", description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    coin = random.Random(args.seed + 1)
    tenants = [(f"tenant-{t}", _ids(rng, args.conversations)) for t in range(args.tenants)]
    n = args.conversations
    print(f"{args.tenants} tenants x {n} conversations each; +-1 point = within 0.01 of the target")
    print(f"{'kind':<17} {'share':>5} {'rule':<5} {'pooled':>8} {'worst':>7} {'within':>7}   binomial sd {'':>0}")
    for subject in SUBJECTS:
        for share in SHARES:
            hashed, flipped = [], []
            for tenant, ids in tenants:
                canary = assignment(tenant, subject, share)
                hashed.append(sum(canary.includes(c) for c in ids) / n)
                flipped.append(sum(coin.random() < share for _ in ids) / n)
            sd = math.sqrt(share * (1 - share) / n)
            for rule, shares in (("hash", hashed), ("coin", flipped)):
                mean, worst, within = _spread(shares, share)
                print(
                    f"{subject.kind:<17} {share:>5.2f} {rule:<5} {mean:>8.4f} {worst:>7.4f} {within:>7.0%}   {sd:.4f}"
                )
    ids = tenants[0][1]
    canary = assignment("tenant-0", SUBJECTS[1], 0.1)
    per_hash = _timed(canary.includes, ids)
    per_coin = _timed(lambda _cid: coin.random() < 0.1, ids)
    print(f"per decision: hash {per_hash * 1e6:.2f} us, coin {per_coin * 1e6:.2f} us ({per_hash / per_coin:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
