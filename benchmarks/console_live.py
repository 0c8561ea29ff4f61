"""How soon the console's live view shows a token after the event is written, against an API client's SSE
stream of the same conversation in the same run.

One gateway on a throwaway stack, Debian's Chromium driven by Playwright with the console's conversation page
open (its live view on the page's own event stream). Each round writes one `token` event to the conversation's
stream (`EventBus.publish`, as the model activity does) and records when the page's answer shows it (a
MutationObserver stamps the wall clock) and when an API client reading `GET /v1/conversations/{id}/events`
receives it. Both clocks are this machine's. Goal: the live view shows a token within 100 ms of its write.

    python -m benchmarks console-live [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

from benchmarks.platform_processes import running_platform
from contracts.events import EventType
from core.events import EventBus
from core.redis_clients import command_client
from core.stack.stack import throwaway_stack

CHROMIUM = Path("/usr/bin/chromium")
_OBSERVE = """() => {
  window.__seen = {};
  const answer = document.getElementById("live-answer");
  new MutationObserver(() => {
    const now = performance.timeOrigin + performance.now();
    for (const marker of answer.textContent.match(/m\\d+;/g) || []) {
      if (!(marker in window.__seen)) { window.__seen[marker] = now; }
    }
  }).observe(answer, { childList: true, characterData: true, subtree: true });
}"""


async def _sse_reader(
    base_url: str, api_key: str, cid: str, arrived: dict[str, float], ready: asyncio.Event, news: asyncio.Condition
) -> None:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", f"/v1/conversations/{cid}/events", headers=headers) as stream,
    ):
        ready.set()
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                delta = (json.loads(line[5:]).get("data") or {}).get("delta", "")
                if delta.startswith("m"):
                    arrived.setdefault(delta, time.time() * 1000)
                    async with news:
                        news.notify_all()


async def measure(settings: object, base_url: str, tenant_id: str, api_key: str, rounds: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    api = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    cid = (await api.post("/v1/conversations", json={"agent": "support", "channel": "web"})).json()["id"]
    redis = command_client(settings)  # type: ignore[arg-type]
    bus = EventBus(redis)
    arrived: dict[str, float] = {}
    ready, news = asyncio.Event(), asyncio.Condition()
    reader = asyncio.create_task(_sse_reader(base_url, api_key, cid, arrived, ready, news))
    samples: dict[str, list[float]] = {"api SSE client": [], "console live view": []}
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(f"{base_url}/console/conversations/{cid}")
        await page.fill("#credential", api_key)
        await page.click("#sign-in")
        await page.wait_for_selector("#live[data-state='open']")
        await page.evaluate(_OBSERVE)
        await ready.wait()
        for i in range(rounds + 10):
            marker = f"m{i};"
            written = time.time() * 1000
            await bus.publish(tenant_id, cid, EventType.TOKEN, {"delta": marker})
            await page.wait_for_function(f"() => window.__seen && window.__seen['{marker}']", timeout=10_000)
            shown = await page.evaluate(f"() => window.__seen['{marker}']")
            async with news:
                await asyncio.wait_for(news.wait_for(lambda: marker in arrived), 10)  # noqa: B023
            if i >= 10:  # the first rounds warm the page and the connections
                samples["console live view"].append(shown - written)
                samples["api SSE client"].append(arrived[marker] - written)
            await asyncio.sleep(0.05)
        await browser.close()
    reader.cancel()
    await redis.aclose()
    await api.aclose()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks console-live", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
        return 2
    with (
        throwaway_stack("aiaas-bench-live-") as settings,
        running_platform(settings, 0, 1, AIAAS_CONSOLE_PER_MINUTE_PER_ADDRESS="1000000") as platform,
    ):
        samples = asyncio.run(measure(settings, platform.base_url, platform.tenant_id, platform.api_key, args.rounds))
    print(f"a token event from its write to the reader, {args.rounds} rounds (ms)")
    print(f"{'reader':<20} {'p50':>8} {'p95':>8} {'max':>8}")
    for name, values in samples.items():
        q = statistics.quantiles(values, n=100, method="inclusive")
        print(f"{name:<20} {statistics.median(values):>8.1f} {q[94]:>8.1f} {max(values):>8.1f}")
    live = statistics.quantiles(samples["console live view"], n=100, method="inclusive")[94]
    base = statistics.quantiles(samples["api SSE client"], n=100, method="inclusive")[94]
    print(f"live view p95 / API client p95: {live / base:.2f}x")
    verdict = "met" if live < 100 else "NOT met"
    print(f"goal: the live view shows a token within 100 ms -> {verdict} (p95 {live:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
