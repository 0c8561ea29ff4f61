"""A re-embed through the running platform while the worker running it is SIGKILLed once and frozen (SIGSTOP)
once for longer than the re-embed's heartbeat timeout, then restarted and resumed (SIGCONT), with the
production timeouts.

Two workers serve the task queue, the platform's and a second one started with the test (so the worker's
start-up, minutes on a loaded machine, overlaps the rest). A collection of hashing-model chunks moves to
MiniLM (ten embedding batches). Each disruption hits the worker running the embedding attempt after some
batches were written: Temporal retries the attempt on the other worker once the heartbeat timeout passes,
and the retry embeds only the chunks still lacking a new vector; the frozen worker, resumed, still holds its
abandoned attempt, whose writes land in the same slot of the same rows. Searches answer throughout, from the
old model until the switch. At the end every chunk has exactly one vector, in the new slot with the new
dimension, none in the old one, none missing, none twice, and `reembed.completed` is on the stream once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from api.routes.knowledge_reembed import reembed_workflow_id
from contracts.knowledge_reembed import REEMBED_HEARTBEAT
from core.settings import Settings
from core.stack.ports import free_port
from core.stack.process import ManagedProcess
from db.codec import connect
from knowledge.embeddings import HASHING_MODEL, OFFLINE_DIM, OFFLINE_MODEL
from tests.e2e.agent_world import rows
from tests.e2e.platform import Platform
from tests.knowledge import documents
from tests.knowledge.reembed_client import reembed_events

SECTIONS = 320  # ten batches of 32
FREEZE_SECONDS = REEMBED_HEARTBEAT.total_seconds() + 5.0


def _word(i: int) -> str:
    return f"quillon{i:03d}"  # one made-up word per section: what a search for it must find, whatever the model


def _text(i: int) -> str:
    return f"Rule {i}: parcels marked {_word(i)} ship from depot {i} on the next weekday."


def _new_vectors(platform: Platform, tenant_id: str, cid: str) -> int:
    sql = "SELECT count(embedding_alt) AS n FROM knowledge_chunks WHERE collection_id = :c"
    return int(rows(platform.settings, tenant_id, sql, c=cid)[0]["n"])


def _until(check: Any, what: str, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            print(
                f"{time.strftime('%H:%M:%S')} {what}: {found if not isinstance(found, dict) else found.get('status')}",
                flush=True,
            )
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Searcher(threading.Thread):
    """Searches the collection every half second while the re-embed runs; records what each answer was."""

    def __init__(self, platform: Platform, key: str, cid: str) -> None:
        super().__init__(daemon=True)
        # (status, rank of the section searched for or -1, the collection's model just after)
        self.answers: list[tuple[int, int, str]] = []
        self._halt = threading.Event()
        self._client = httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self._cid = cid

    def run(self) -> None:
        i = 0
        while not self._halt.is_set():
            i = (i + 37) % SECTIONS
            query = {"query": _word(i), "collection_ids": [self._cid]}
            found = self._client.post("/v1/knowledge/search", json=query)
            # Read after the search: an answer given before the switch may be labelled with the new model, never
            # the other way round.
            model = self._client.get(f"/v1/knowledge/collections/{self._cid}").json()["embedding_model"]
            headings = [p["heading"] for p in found.json()["items"]] if found.status_code == 200 else []
            rank = headings.index(f"Rule {i}") if f"Rule {i}" in headings else -1
            self.answers.append((found.status_code, rank, model))
            self._halt.wait(0.5)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)
        self._client.close()


def _holder(settings: Settings, workflow_id: str) -> int:
    """The process id of the worker running the re-embed's activity (0 while none runs it)."""

    async def describe() -> int:
        client = await connect(settings)
        found = (await client.get_workflow_handle(workflow_id).describe()).raw_description.pending_activities
        started = [p for p in found if p.HasField("last_started_time") and p.last_worker_identity]
        return int(started[0].last_worker_identity.split("@")[0]) if started else 0

    return asyncio.run(describe())


def _embed_attempts(settings: Settings, workflow_id: str) -> int:
    """The highest attempt of any re-embed activity the run's history shows started."""

    async def attempts() -> int:
        client = await connect(settings)
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        started = [e.activity_task_started_event_attributes.attempt for e in history.events]
        return max(started, default=0)

    return asyncio.run(attempts())


@pytest.mark.timeout(900)  # a worker's start-up alone takes minutes on a loaded machine
def test_a_reembed_survives_a_kill_and_a_freeze_and_misses_nothing(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    tenant_id = tenant_a[0]
    spare = ManagedProcess(
        "test-worker-spare",
        [sys.executable, "-m", "app.cli", "worker"],
        data_dir=platform.data_dir,
        env={**platform.env, "AIAAS_WORKER_METRICS_PORT": str(free_port())},
    )
    spare.start()
    try:
        done, reembed_id, cid, answers = _disrupted_reembed(platform, api, tenant_a, spare)
    finally:
        spare.stop()
    assert done["status"] == "completed", done
    assert done["embedded"] == SECTIONS

    collection = api.get(f"/v1/knowledge/collections/{cid}").json()
    assert (collection["embedding_model"], collection["embedding_dim"]) == (OFFLINE_MODEL, OFFLINE_DIM)
    counts = rows(
        platform.settings, tenant_id,
        "SELECT count(*) AS chunks, count(DISTINCT (document_id, ord)) AS distinct_chunks,"
        " count(embedding) AS old_slot, count(embedding_alt) AS new_slot,"
        " count(*) FILTER (WHERE embedding_alt_dim = :dim) AS new_dim FROM knowledge_chunks WHERE collection_id = :c",
        c=cid, dim=OFFLINE_DIM,
    )[0]  # fmt: skip
    assert counts == {
        "chunks": SECTIONS,
        "distinct_chunks": SECTIONS,
        "old_slot": 0,
        "new_slot": SECTIONS,
        "new_dim": SECTIONS,
    }
    events = reembed_events(platform.settings, tenant_id, reembed_id)
    assert events.count("reembed.completed") == 1 and "reembed.failed" not in events, events
    # The kill and the freeze each cost the embedding activity an attempt.
    assert _embed_attempts(platform.settings, reembed_workflow_id(tenant_id, cid)) >= 3

    # Every search answered; while the old model served, each found its section first (its hashed words match
    # exactly). After the switch MiniLM ranks made-up words as it may: the section's own text is checked below.
    assert answers and all(status == 200 for status, _r, _m in answers), answers
    assert all(rank == 0 for _s, rank, m in answers if m == HASHING_MODEL), answers
    models = [m for _s, _r, m in answers]
    assert models[0] == HASHING_MODEL and models == sorted(models, key=lambda m: m == OFFLINE_MODEL), models
    # Read with the new model now: a section's own text finds it.
    query = {"query": _text(123), "collection_ids": [cid], "top_k": 3}
    assert "Rule 123" in [p["heading"] for p in api.post("/v1/knowledge/search", json=query).json()["items"]]


def _disrupted_reembed(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str], spare: ManagedProcess
) -> tuple[dict[str, Any], str, str, list[tuple[int, int, str]]]:
    tenant_id = tenant_a[0]
    created = api.post(
        "/v1/knowledge/collections", json={"name": f"Crash {uuid.uuid4().hex[:6]}", "embedding_model": HASHING_MODEL}
    )
    assert created.status_code == 201, created.text
    cid = str(created.json()["id"])
    sections = [(f"Rule {i}", _text(i)) for i in range(SECTIONS)]
    upload = api.post(
        f"/v1/knowledge/collections/{cid}/documents",
        files={"file": ("rules.md", documents.markdown(sections), "text/markdown")},
    )
    assert upload.status_code == 202, upload.text
    document = f"/v1/knowledge/collections/{cid}/documents/{upload.json()['id']}"
    ingested = _until(lambda: (d := api.get(document).json())["status"] in ("ready", "failed") and d, "ingestion")
    assert ingested["status"] == "ready" and ingested["chunks"] == SECTIONS, ingested
    url = f"/v1/knowledge/collections/{cid}/reembed"
    workflow_id = reembed_workflow_id(tenant_id, cid)
    workers = {"platform": platform.worker, "spare": spare}
    searcher = Searcher(platform, tenant_a[1], cid)
    searcher.start()
    try:
        started = api.post(url, json={"embedding_model": OFFLINE_MODEL})
        assert started.status_code == 202, started.text

        # SIGKILL the worker running the attempt once a batch is written; a killed platform worker is restarted.
        killed_at = _until(lambda: _new_vectors(platform, tenant_id, cid), "the first batch")
        holder = _until(lambda: _holder(platform.settings, workflow_id), "the attempt's worker")
        name = next((n for n, w in workers.items() if w.pid == holder), None)
        assert name is not None, (holder, {n: w.pid for n, w in workers.items()})
        os.killpg(holder, signal.SIGKILL)
        workers[name].stop()
        running = api.get(url).json()
        assert running["status"] == "running" and running["switched_at"] is None and killed_at < SECTIONS
        workers[name].start()

        # Frozen past the heartbeat timeout, the worker running the retry once it has written more.
        killed = holder
        holder = _until(lambda: (h := _holder(platform.settings, workflow_id)) not in (0, killed) and h, "the retry")
        retry_from = _new_vectors(platform, tenant_id, cid)
        frozen_at = _until(lambda: (n := _new_vectors(platform, tenant_id, cid)) > retry_from and n, "its batch")
        os.killpg(holder, signal.SIGSTOP)
        try:
            time.sleep(FREEZE_SECONDS)
            during = api.get(url).json()
            assert during["status"] == "running" and during["switched_at"] is None and frozen_at < SECTIONS
        finally:
            os.killpg(holder, signal.SIGCONT)
        done = _until(lambda: (b := api.get(url).json())["status"] != "running" and b, "the re-embed", timeout=600)
    finally:
        searcher.stop()
    # The platform's worker is up for the tests after this one.
    platform.worker.wait_ready(lambda: platform.worker.alive, timeout=60)
    return done, str(started.json()["id"]), cid, searcher.answers
