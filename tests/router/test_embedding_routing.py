"""Live decisions of a router that reads the static embedding, on the real database and Redis: the text's
vector read when the table is in memory, the tenant's router without it deciding (and saying so) while the
table loads or cannot, another tenant untouched, and `aiaas router train --embeddings`.

The token table is seeded into a cache directory (`tests/router/test_static_embedding._embedder`), so no
test builds it."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from activities.conversation import ConversationActivities
from activities.early_exit import EarlyExitActivities
from activities.resolve_agent import AgentActivities
from activities.routing import ROUTE_EMBEDDING, RoutingActivities
from activities.turn_lease import TurnLeaseActivities
from activities.turn_steps import TurnStepActivities
from app.cli import main
from app.router_warmup import stored_routers_read_embedding, warm_router_embedding
from app.tools import platform_registry
from contracts.early_exit import EarlyExitInput
from contracts.routing import RouteDecision
from contracts.turn_steps import PrepareTurnInput
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from router import versions
from router.classifier import PassClassifier
from router.static_embedding import DIMENSION, EMBEDDING_NAMES, SOURCE, StaticEmbedder
from router.table import read_table
from router.train import fit
from tests.agents.test_model_activity import _turn
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import platform_env
from tests.router.test_routing_activity import _route, _settings
from tests.router.test_static_embedding import _embedder

# Equal in every feature the router reads without the embedding (same length, words, signals): only the
# embedding tells them apart.
EASY = "Tell me about the lighthouse keeper"
HARD = "Tell me about the quantum annealers"


def _lines() -> list[str]:
    rng = random.Random(4)
    lines = []
    for i in range(100):
        text, logit = (EASY, 2.5) if i % 2 else (HARD, -2.5)
        p = 1 / (1 + math.exp(-(logit + rng.uniform(-0.3, 0.3))))
        for _ in range(6):
            row = {"key": f"p{i}", "text": text, "small_pass": int(rng.random() < p), "large_pass": 1}
            lines.append(json.dumps(row))
    return lines


@pytest.fixture(autouse=True)
async def _no_router_reading_the_embedding_left(migrated: Settings) -> AsyncIterator[None]:
    """Every router these tests store that reads the embedding is deleted after each test: a worker started
    later on the same database (the platform's, the README's) would see one and build the real table at start,
    tens of seconds of both cores."""
    yield
    db = Database(migrated.database_url or "", pool_size=1)
    try:
        async with db.admin_session() as session:
            await run_sql(
                session,
                "DELETE FROM tenant_routers WHERE (artefact -> 'names') @> CAST(:emb AS jsonb)",
                {"emb": json.dumps([EMBEDDING_NAMES[0]])},
            )
        assert not await stored_routers_read_embedding(migrated)
    finally:
        await db.close()


@dataclass(frozen=True)
class Routers:
    cache: Path
    embedding: PassClassifier
    plain: PassClassifier


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> Routers:
    cache = tmp_path_factory.mktemp("router-cache")
    embedder = _embedder(cache)
    lines = _lines()
    return Routers(cache, fit(read_table(lines, embedder), embeddings=True), fit(read_table(lines)))


def _loaded(cache: Path) -> StaticEmbedder:
    embedder = StaticEmbedder(cache)
    embedder.load()
    return embedder


async def _decide(routing: RoutingActivities, db: Database, tenant: str, text: str) -> RouteDecision:
    conversation_id, message_id = await _turn(db, tenant, text)
    return await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))


def _count(outcome: str) -> float:
    return float(ROUTE_EMBEDDING.labels(outcome=outcome)._value.get())


async def test_a_tenant_trained_with_the_embedding_is_routed_by_it_and_another_tenant_is_not(
    db: Database, bus: EventBus, migrated: Settings, tenant: str, other_tenant: str, routers: Routers
) -> None:
    await versions.store(db, tenant, routers.plain)
    await versions.store(db, tenant, routers.embedding)  # newest: it routes the tenant's turns
    await versions.store(db, other_tenant, routers.plain)
    settings = _settings(migrated, model_large="scripted/echo")
    routing = RoutingActivities(db, bus, settings, embedder=_loaded(routers.cache))
    before = _count("read")

    easy, hard = await _decide(routing, db, tenant, EASY), await _decide(routing, db, tenant, HARD)
    assert easy.router_version == hard.router_version == routers.embedding.version
    assert easy.features[EMBEDDING_NAMES[0]] != hard.features[EMBEDDING_NAMES[0]]
    assert sum(1 for name in easy.features if name.startswith("emb_")) == DIMENSION
    assert easy.p_small_pass > 0.7 and hard.p_small_pass < 0.3
    assert (easy.tier, hard.tier) == ("small", "large")
    assert _count("read") == before + 2
    # The same text gives the same vector and the same decision.
    again = await _decide(routing, db, tenant, EASY)
    assert again.features == easy.features and again.p_small_pass == easy.p_small_pass
    conversation_id, message_id = await _turn(db, tenant, HARD)
    await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    [event] = [e for e in await bus.history(tenant, conversation_id) if e.type == "route.decided"]
    assert event.data["router_fallback"] is None and event.data["router_version"] == routers.embedding.version

    # Another tenant keeps its own router, which reads no embedding: both texts look alike to it.
    other_easy, other_hard = (
        await _decide(routing, db, other_tenant, EASY),
        await _decide(routing, db, other_tenant, HARD),
    )
    assert other_easy.router_version == other_hard.router_version == routers.plain.version
    assert EMBEDDING_NAMES[0] not in other_easy.features
    assert other_easy.p_small_pass == other_hard.p_small_pass and other_easy.tier == other_hard.tier
    assert _count("read") == before + 4  # only the first tenant's decisions read it


async def test_while_the_table_loads_the_router_without_it_decides_and_says_so(
    db: Database, bus: EventBus, migrated: Settings, tenant: str, other_tenant: str, routers: Routers
) -> None:
    await versions.store(db, tenant, routers.plain)
    await versions.store(db, tenant, routers.embedding)
    await versions.store(db, other_tenant, routers.embedding)  # no router without the embedding
    embedder = StaticEmbedder(routers.cache)
    routing = RoutingActivities(db, bus, _settings(migrated), embedder=embedder)
    before = _count("not_ready")

    # The load is under way (its lock held): the decision does not wait for it.
    with embedder._lock:
        conversation_id, message_id = await _turn(db, tenant, EASY)
        fallback = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
        global_fallback = await _decide(routing, db, other_tenant, EASY)
        assert not embedder.ready
    assert fallback.router_version == routers.plain.version and EMBEDDING_NAMES[0] not in fallback.features
    assert global_fallback.router_version == PassClassifier.load().version
    [event] = [e for e in await bus.history(tenant, conversation_id) if e.type == "route.decided"]
    assert event.data["router_fallback"] == "embedding_not_ready"
    assert event.data["router_version"] == routers.plain.version
    assert _count("not_ready") == before + 2

    # The first such decision started the load in the background; once ready, the embedding decides.
    assert embedder.wait(60)
    ready = await _decide(routing, db, tenant, EASY)
    assert ready.router_version == routers.embedding.version and EMBEDDING_NAMES[0] in ready.features


async def test_a_table_that_cannot_load_is_a_counted_fallback_not_a_failed_turn(
    db: Database, bus: EventBus, migrated: Settings, tenant: str, routers: Routers, tmp_path: Path
) -> None:
    await versions.store(db, tenant, routers.embedding)
    embedder = StaticEmbedder(tmp_path)
    np.save(embedder.table_path(), np.zeros((10, DIMENSION), dtype=np.float16))  # the wrong shape
    routing = RoutingActivities(db, bus, _settings(migrated), embedder=embedder)
    await _decide(routing, db, tenant, EASY)  # starts the load, which fails
    assert not embedder.wait(60) and embedder.failure is not None and "delete it to rebuild" in embedder.failure
    before = _count("unavailable")
    conversation_id, message_id = await _turn(db, tenant, EASY)
    decision = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    assert decision.router_version == PassClassifier.load().version
    [event] = [e for e in await bus.history(tenant, conversation_id) if e.type == "route.decided"]
    assert event.data["router_fallback"] == "embedding_unavailable"
    assert _count("unavailable") == before + 1


def test_train_with_embeddings_stores_a_router_that_says_it_reads_them(
    migrated: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    routers: Routers,
    tmp_path: Path,
) -> None:
    for name, value in platform_env(migrated, migrated.data_dir).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIAAS_ROUTER_CACHE", str(routers.cache))
    tenant, _ = create_test_tenant(migrated, "Embedding router")
    table, out = tmp_path / "table.jsonl", tmp_path / "router.json"
    table.write_text("\n".join(_lines()) + "\n")

    assert main(["router", "train", "--table", str(table), "--out", str(out), "--tenant", tenant, "--embeddings"]) == 0
    printed = json.loads(capsys.readouterr().out)
    artefact = json.loads(out.read_text())
    assert printed["reads_embedding"] is True and printed["version"] == routers.embedding.version
    assert artefact["embedding"] == SOURCE and artefact["names"][-DIMENSION:] == list(EMBEDDING_NAMES)
    assert PassClassifier.load(out).reads_embedding

    async def stored() -> PassClassifier:
        async with Database(migrated.resolved_app_database_url(), pool_size=1) as db:
            return await versions.load(db, tenant, printed["version"])

    assert asyncio.run(stored()).reads_embedding

    # Without the flag: the default router, which reads no embedding and names none.
    assert main(["router", "train", "--table", str(table), "--out", str(out)]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["reads_embedding"] is False and "embedding" not in json.loads(out.read_text())
    assert plain["version"] == routers.plain.version

    # A table that cannot be loaded is refused in one line, nothing stored.
    broken = tmp_path / "broken"
    broken.mkdir()
    np.save(StaticEmbedder(broken).table_path(), np.zeros((10, DIMENSION), dtype=np.float16))
    monkeypatch.setenv("AIAAS_ROUTER_CACHE", str(broken))
    assert main(["router", "train", "--table", str(table), "--out", str(tmp_path / "r.json"), "--embeddings"]) == 1
    assert "static embedding is unavailable" in capsys.readouterr().err and not (tmp_path / "r.json").exists()


async def test_a_turns_preparation_routes_its_first_step_with_the_embedding(
    db: Database, bus: EventBus, redis: Redis, migrated: Settings, tenant: str, routers: Routers
) -> None:
    await versions.store(db, tenant, routers.embedding)
    routing = RoutingActivities(db, bus, _settings(migrated), embedder=_loaded(routers.cache))
    steps = TurnStepActivities(
        AgentActivities(db, platform_registry()),
        EarlyExitActivities(db, redis, bus),
        routing,
        ConversationActivities(db, bus),
        TurnLeaseActivities(redis),
    )
    conversation_id, message_id = await _turn(db, tenant, HARD)
    early = EarlyExitInput(tenant_id=tenant, conversation_id=conversation_id, message_id=message_id, agent="support")
    prepared = await ActivityEnvironment().run(
        steps.prepare, PrepareTurnInput(early=early, route=_route(tenant, conversation_id, message_id))
    )
    assert prepared.route is not None and prepared.route.router_version == routers.embedding.version
    assert EMBEDDING_NAMES[0] in prepared.route.features and prepared.route.p_small_pass < 0.3


async def test_a_worker_loads_the_table_at_start_when_a_router_will_read_it(
    db: Database,
    migrated: Settings,
    other_tenant: str,
    routers: Routers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIAAS_ROUTER_EMBEDDING_WARMUP", raising=False)
    no_owner = migrated.model_copy(update={"database_url": None})
    cold = StaticEmbedder(tmp_path / "empty")
    assert await warm_router_embedding(no_owner, cold, global_reads=False) is None and not cold.wait(0)

    # A table that is only in the cache stays on disk: no router reads it.
    cached = StaticEmbedder(routers.cache)
    assert await warm_router_embedding(no_owner, cached, global_reads=False) is None and not cached.wait(0)
    assert await warm_router_embedding(no_owner, StaticEmbedder(routers.cache), global_reads=True) == "global_router"
    monkeypatch.setenv("AIAAS_ROUTER_EMBEDDING_WARMUP", "1")
    forced = StaticEmbedder(routers.cache)
    assert await warm_router_embedding(no_owner, forced, global_reads=False) == "setting" and forced.wait(60)

    # A stored tenant router that reads it is seen through the owner's connection, whatever the tenant.
    await versions.store(db, other_tenant, routers.embedding)
    assert await stored_routers_read_embedding(migrated)
    assert not await stored_routers_read_embedding(no_owner)
