"""Fallback chains: the next model after a 429 or 5xx, a larger window after a context overflow, none after a
bad request or once the answer has begun; provider health shared by every worker through Redis."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from temporalio.exceptions import ApplicationError

from contracts.errors import ModelErrorType
from router.catalog import Catalog
from router.fallback import MidStream, run_chain
from router.health import LocalHealth, ProviderHealth

CATALOG = Catalog.load()


def _error(kind: ModelErrorType, provider_error: str = "") -> ApplicationError:
    return ApplicationError("boom", {"model": "m", "provider_error": provider_error}, type=kind)


class Provider:
    """Models that fail as told; records every call."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    async def __call__(self, model: str) -> str:
        self.calls.append(model)
        if model in self.failures:
            raise self.failures[model]
        return f"answer from {model}"


async def test_a_rate_limited_model_falls_back_and_says_so() -> None:
    moves: list[tuple[str, str, str]] = []

    async def moved(failed: str, to: str, cause: str) -> None:
        moves.append((failed, to, cause))

    provider = Provider({"azure/gpt-4o-mini-eu": _error(ModelErrorType.RATE_LIMITED)})
    chain = ["azure/gpt-4o-mini-eu", "mistral/mistral-small-latest"]
    answer, model = await run_chain(
        chain, provider, LocalHealth(), catalog=CATALOG, region="eu-west", on_fallback=moved
    )
    assert (answer, model) == ("answer from mistral/mistral-small-latest", "mistral/mistral-small-latest")
    assert moves == [("azure/gpt-4o-mini-eu", "mistral/mistral-small-latest", "ModelRateLimited")]


async def test_a_bad_request_or_a_broken_stream_is_not_retried_elsewhere() -> None:
    chain = ["azure/gpt-4o-mini-eu", "mistral/mistral-small-latest"]
    bad = Provider({"azure/gpt-4o-mini-eu": _error(ModelErrorType.BAD_REQUEST)})
    with pytest.raises(ApplicationError):
        await run_chain(chain, bad, LocalHealth(), catalog=CATALOG, region="eu-west")
    assert bad.calls == ["azure/gpt-4o-mini-eu"]
    partial = Provider({"azure/gpt-4o-mini-eu": MidStream(_error(ModelErrorType.UNAVAILABLE))})
    with pytest.raises(ApplicationError):
        await run_chain(chain, partial, LocalHealth(), catalog=CATALOG, region="eu-west")
    assert partial.calls == ["azure/gpt-4o-mini-eu"]
    # Every model failing: the last failure is the call's.
    down = Provider({m: _error(ModelErrorType.UNAVAILABLE) for m in chain})
    with pytest.raises(ApplicationError):
        await run_chain(chain, down, LocalHealth(), catalog=CATALOG, region="eu-west")
    assert down.calls == chain


async def test_a_context_overflow_skips_to_a_model_with_a_larger_window() -> None:
    # mistral-small holds 32k, azure's mini 128k, the eu-central haiku 200k.
    chain = [
        "mistral/mistral-small-latest",
        "mistral/mistral-small-latest-copy",
        "azure/gpt-4o-mini-eu",
        "bedrock/eu.anthropic.claude-3-haiku-20240307-v1:0",
    ]
    too_long = _error(ModelErrorType.BAD_REQUEST, "ContextWindowExceededError")
    provider = Provider({"mistral/mistral-small-latest": too_long, "azure/gpt-4o-mini-eu": too_long})
    _answer, model = await run_chain(chain, provider, LocalHealth(), catalog=CATALOG, region="eu-central")
    assert model == "bedrock/eu.anthropic.claude-3-haiku-20240307-v1:0"
    # The unknown copy (no window known) and nothing outside the chain was tried.
    assert provider.calls == ["mistral/mistral-small-latest", "azure/gpt-4o-mini-eu", model]


async def test_provider_health_is_shared_by_every_worker(redis: Redis) -> None:
    model = f"scripted/health-{uuid.uuid4().hex[:8]}"
    worker_a = ProviderHealth(redis, failures=3, window_seconds=30, cooldown_seconds=30)
    worker_b = ProviderHealth(redis, failures=3, window_seconds=30, cooldown_seconds=30)
    failing = Provider({model: _error(ModelErrorType.UNAVAILABLE)})
    for _ in range(3):
        _answer, used = await run_chain([model, "scripted/echo"], failing, worker_a, catalog=CATALOG, region="eu-west")
        assert used == "scripted/echo"
    assert await worker_b.state(model) == "open"
    # Worker B does not call the cooling model at all.
    fresh = Provider({})
    _answer, used = await run_chain([model, "scripted/echo"], fresh, worker_b, catalog=CATALOG, region="eu-west")
    assert used == "scripted/echo" and fresh.calls == ["scripted/echo"]
    # The last model of a chain is tried even while it cools down: better a probe than no answer.
    _answer, used = await run_chain([model], fresh, worker_b, catalog=CATALOG, region="eu-west")
    assert used == model
