"""The console's conversations page against the JSON API's list it is built on, with 10k conversations.

One gateway process on a throwaway stack; the tenant gets 10,000 conversations (four agents, two channels,
spread over 30 days). Each round asks, interleaved so both see the same machine: `GET /v1/conversations`
(the baseline: the same query, JSON out) and `GET /console/conversations` (session cookie resolved, the same
query through the same function, HTML rendered), for the first page, a filtered page and the second page.
Goal: console p95 under 100 ms; the ratio to the API says what the console itself adds.

    python -m benchmarks console [--conversations 10000] [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time

import httpx

from benchmarks.platform_processes import running_platform
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database, run_sql

# Ids and times spread so every page is a real keyset page, not a tie on created_at.
_SEED = (
    "INSERT INTO conversations (id, tenant_id, agent, channel, status, created_at, updated_at)"
    " SELECT gen_random_uuid()::text, :tid, (ARRAY['support','orders','sales','billing'])[1 + g % 4],"
    " (ARRAY['web','email'])[1 + g % 2], 'open', now() - make_interval(secs => g * 259.0),"
    " now() - make_interval(secs => g * 259.0) FROM generate_series(1, :n) AS g"
)
_NEXT = re.compile(r'id="next-page" href="\?([^"]+)"')


async def seed(settings: Settings, tenant_id: str, count: int) -> None:
    db = Database(settings.resolved_app_database_url())
    try:
        async with db.tenant_session(tenant_id) as session:
            await run_sql(session, _SEED, {"tid": tenant_id, "n": count})
    finally:
        await db.close()


def _stats(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": statistics.median(samples) * 1e3, "p95_ms": q[94] * 1e3}


def sample_pairs(
    api: httpx.Client, console: httpx.Client, cases: dict[str, tuple[str, str]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Seconds per GET of each case's API path and console page, interleaved round by round (same load)."""
    samples: dict[str, dict[str, list[float]]] = {name: {"api": [], "console": []} for name in cases}
    for round_ in range(rounds + 20):
        for name, (api_path, console_path) in cases.items():
            for kind, client, path in (("api", api, api_path), ("console", console, console_path)):
                started = time.perf_counter()
                answer = client.get(path)
                elapsed = time.perf_counter() - started
                assert answer.status_code == 200, (path, answer.status_code)
                if round_ >= 20:  # the first rounds warm caches and connections
                    samples[name][kind].append(elapsed)
    return samples


def measure(base_url: str, api_key: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    api = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    console = httpx.Client(base_url=base_url, timeout=30)
    signed = console.post("/console/sign-in", data={"credential": api_key}, headers={"Origin": base_url})
    assert signed.status_code == 303, signed.text
    first = console.get("/console/conversations")
    assert first.status_code == 200 and first.text.count('class="conversation"') == 50
    console_next = "/console/conversations?" + _NEXT.search(first.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    api_cursor = api.get("/v1/conversations").json()["next_cursor"]
    cases = {
        "first page": ("/v1/conversations", "/console/conversations"),
        "filtered (agent)": ("/v1/conversations?agent=orders", "/console/conversations?agent=orders"),
        "second page": (f"/v1/conversations?cursor={api_cursor}", console_next),
    }
    return sample_pairs(api, console, cases, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks console", description=__doc__)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    with (
        throwaway_stack("aiaas-bench-console-") as settings,
        running_platform(settings, 0, 1, AIAAS_CONSOLE_PER_MINUTE_PER_ADDRESS="1000000") as platform,
    ):
        asyncio.run(seed(settings, platform.tenant_id, args.conversations))
        samples = measure(platform.base_url, platform.api_key, args.rounds)
    print(f"console conversations page, {args.conversations} conversations in the tenant, {args.rounds} rounds")
    print(f"{'case':<18} {'api p50':>9} {'api p95':>9} {'console p50':>12} {'console p95':>12} {'p95 ratio':>10}")
    worst = 0.0
    for name, kinds in samples.items():
        api, console = _stats(kinds["api"]), _stats(kinds["console"])
        worst = max(worst, console["p95_ms"])
        print(
            f"{name:<18} {api['p50_ms']:>7.1f}ms {api['p95_ms']:>7.1f}ms {console['p50_ms']:>10.1f}ms"
            f" {console['p95_ms']:>10.1f}ms {console['p95_ms'] / api['p95_ms']:>9.2f}x"
        )
    print(f"goal: console p95 < 100 ms -> {'met' if worst < 100 else 'NOT met'} (worst {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
