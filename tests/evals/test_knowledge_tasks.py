"""Golden knowledge tasks: support questions answered from the shop's documents under `evals/knowledge/`.

Each task's documents are ingested into its own eval tenant before the conversation (idempotently, by content
hash); the scripted model searches with the task's query and answers with the passage sentence it found,
citing the document. Graded: `knowledge.search` called with the key terms, the fact and the cited file.
"""

from __future__ import annotations

import json

from agents.models.scripted_agent import cite
from contracts.eval_runs import ObservedCall
from contracts.evals import ToolCallExpectation
from db.database import run_sql
from evaluation import store
from evaluation.knowledge_seed import document_path, seed_knowledge
from evaluation.suites import load_suite
from grading.graders import call_matches
from tests.evals.conftest import Evals
from tests.evals.test_gate import _failures, _run

RESULT = '<tool_result name="knowledge.search" status="ok">{}</tool_result>'


def _knowledge_tasks() -> list:  # type: ignore[type-arg]
    return [t for t in load_suite("golden") if t.category == "knowledge"]


def test_the_suite_holds_knowledge_tasks_whose_documents_exist() -> None:
    tasks = _knowledge_tasks()
    assert len(tasks) >= 10
    for task in tasks:
        assert task.knowledge and all(document_path(name).is_file() for name in task.knowledge)
        assert task.expect.tools.calls[0].tool == "knowledge.search" and task.expect.tools.calls[0].args_contain


def test_the_scripted_model_cites_the_passage_that_holds_the_term() -> None:
    body = json.dumps(
        {"passages": [
            {"document": "a.md", "text": "Nothing here."},
            {"document": "shipping.md", "text": "Standard is slow. Express costs 9 euros; always."},
        ]}
    )  # fmt: skip
    assert cite(RESULT.format(body), "express") == "Express costs 9 euros; [source: shipping.md]"
    assert cite(RESULT.format(body), "limescale") == "the documents say nothing about limescale"


def test_search_terms_are_matched_in_any_case_and_all_must_be_there() -> None:
    expected = ToolCallExpectation(tool="knowledge.search", args_contain={"query": ["Return", "label"]})
    call = ObservedCall(tool="knowledge.search", arguments={"query": "return LABEL cost"}, status="ok")
    assert call_matches(expected, call, {})
    assert not call_matches(expected, call.model_copy(update={"arguments": {"query": "return cost"}}), {})
    assert not call_matches(expected, call.model_copy(update={"arguments": {"query": 3}}), {})


async def test_knowledge_tasks_pass_and_fail_without_their_documents(evals: Evals) -> None:
    tasks = _knowledge_tasks()
    run_id, passed, total = await _run(evals, tasks)
    assert (passed, total) == (len(tasks), len(tasks)), await _failures(evals, run_id)
    async with evals.db.tenant_session(evals.tenant_id) as session:
        results = await store.run_results(session, run_id)
        first = results[0]["task_id"]
        eval_tenant = (
            await run_sql(
                session,
                "SELECT eval_tenant_id FROM eval_results WHERE run_id = :r AND task_id = :t",
                {"r": run_id, "t": first},
            )
        ).scalar_one()
    answer = results[0]["observation"]["turns"][0]["answer"]
    assert "[source: " in answer, answer

    async def counts() -> tuple[int, int, int]:
        async with evals.db.tenant_session(eval_tenant) as session:
            row = (
                await run_sql(
                    session,
                    "SELECT (SELECT count(*) FROM knowledge_documents WHERE status = 'ready') AS docs,"
                    " (SELECT count(*) FROM knowledge_chunks WHERE embedding IS NOT NULL) AS chunks,"
                    " (SELECT count(*) FROM knowledge_collections) AS collections",
                )
            ).one()
        return int(row.docs), int(row.chunks), int(row.collections)

    before = await counts()
    assert before[0] == len(tasks[0].knowledge) and before[1] >= before[0] and before[2] == 1
    # Seeding again (a retried prepare) ingests nothing new: the same collection, documents and chunks.
    await seed_knowledge(evals.db, eval_tenant, list(tasks[0].knowledge))
    assert await counts() == before
    # Without its documents the same task fails: the search finds nothing, so the answer cannot hold the fact.
    bare = [tasks[0].model_copy(update={"knowledge": []})]
    run_id, passed, total = await _run(evals, bare)
    assert (passed, total) == (0, 1)
