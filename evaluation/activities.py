"""The activities of an eval run: a task's own tenant and world, its grading, and the run's totals.

Each task runs in a tenant of its own (`plan` pro, named after the run and task) seeded with the demo world,
so a task that cancels an order never changes the world another task starts from, and the run's owner never
sees eval traffic in its own usage. Grading reads what the conversation did back from that tenant
(`evaluation.observe`), applies the pure graders of `grading`, and stores the result under the owner. When the
run has a judge (`JudgeSettings`), a task with a rubric also gets the judge's verdict (`grading.rubric`): from
the recordings, or asked live and recorded when the run records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter
from temporalio import activity

from agents.definitions import pinned_agent_names
from agents.sealed_records import ORDERS, write_fields
from commerce.demo import seed_demo
from contracts.eval_runs import (
    EvalRunResult,
    FinishRunInput,
    GradeTaskInput,
    JudgeSettings,
    Observation,
    PreparedTask,
    PreparedTurn,
    PrepareTaskInput,
    TaskGrade,
    TaskResult,
)
from contracts.evals import GoldenTask, Verdict, resolve
from contracts.names import ACT_EVAL_FINISH_RUN, ACT_EVAL_GRADE_TASK, ACT_EVAL_PREPARE_TASK
from core.settings import Settings
from db.database import Database, run_sql
from db.ids import new_id
from evaluation import agent_versions, observe, store
from evaluation.knowledge_seed import seed_knowledge
from grading.graders import grade, passed
from grading.judge_models import recorded_judge
from grading.rubric import rubric_verdict
from router import settings_store
from router.catalog import Catalog
from router.settings_store import RouterSettings
from tenancy.tenants import create_tenant

log = structlog.get_logger("aiaas.evals")
TASKS_GRADED = Counter("aiaas_eval_tasks_total", "Eval tasks graded", ["outcome"])
JUDGE_VERDICTS = Counter("aiaas_eval_judge_verdicts_total", "Rubric verdicts of the eval judge", ["outcome"])


SCRIPTED_PREFIXES = ("scripted/", "planted/")


def turn_content(task: GoldenTask, position: int, refs: dict[str, str], model: str) -> str:
    """What the customer sends: the text, plus the script when the model is a scripted one (`planted/*`: the
    scripted model with a known fault, which measures the suite itself)."""
    turn = task.turns[position]
    text = str(resolve(turn.text, refs))
    if turn.plan is not None and (not model or model.startswith(SCRIPTED_PREFIXES)):
        text += "\nPLAN: " + json.dumps(resolve(turn.plan, refs))
    return text


class EvalActivities:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    @activity.defn(name=ACT_EVAL_PREPARE_TASK)
    async def prepare_task(self, inp: PrepareTaskInput) -> PreparedTask:
        async with self._db.tenant_session(inp.tenant_id) as session:
            task, model = await store.run_task(session, inp.run_id, inp.task_id)
            versions = await agent_versions.load(
                session,
                await store.run_agent_version(session, inp.run_id),
                pinned=pinned_agent_names(self._settings),
            )
        created = await create_tenant(
            self._settings.database_url or "",
            name=f"eval {inp.run_id[:8]} {task.id}"[:100],
            plan="pro",
            pepper=self._settings.api_key_pepper.get_secret_value(),
        )
        eval_tenant = created.tenant_id
        if model:
            # The run's model answers every turn of the task: the eval tenant's router pins it.
            catalog = Catalog.load(self._settings.router_catalog or None)
            await settings_store.save(self._db, eval_tenant, RouterSettings(pinned_model=model), catalog)
        demo = await seed_demo(self._db, eval_tenant)
        refs = observe.references(demo)
        if task.knowledge:
            # The shop's documents, searchable before the first turn (idempotent: a retry ingests nothing).
            await seed_knowledge(self._db, eval_tenant, list(task.knowledge))
        customer_id = refs[f"customer:{task.customer}"] if task.customer else None
        conversation_id = new_id()
        async with self._db.tenant_session(eval_tenant) as session:
            # The owner's saved versions the run names become the eval tenant's own: its agents resolve to them.
            await agent_versions.install(session, eval_tenant, versions)
            for label, note in task.plant.items():
                await write_fields(session, eval_tenant, ORDERS, refs[f"order:{label}"], {"note": resolve(note, refs)})
            await run_sql(
                session,
                "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
                " customer_id, created_at, updated_at) VALUES (:id, :tid, :agent, 'api', CAST(:meta AS jsonb),"
                " 'enqueue', 'open', :customer, now(), now())",
                {
                    "id": conversation_id,
                    "tid": eval_tenant,
                    "agent": task.agent,
                    "meta": json.dumps({"eval_run": inp.run_id, "eval_task": task.id, "owner": inp.tenant_id}),
                    "customer": customer_id,
                },
            )
        return PreparedTask(
            eval_tenant_id=eval_tenant,
            conversation_id=conversation_id,
            agent=task.agent,
            customer_id=customer_id,
            turns=[
                PreparedTurn(content=turn_content(task, i, refs, model), approval=t.approval, confirm=t.confirm)
                for i, t in enumerate(task.turns)
            ],
        )

    @activity.defn(name=ACT_EVAL_GRADE_TASK)
    async def grade_task(self, inp: GradeTaskInput) -> TaskGrade:
        async with self._db.tenant_session(inp.tenant_id) as session:
            task, _ = await store.run_task(session, inp.run_id, inp.task_id)
        observation = Observation(latency_ms=inp.latency_ms, error=inp.error)
        if inp.eval_tenant_id:
            # Seeding is idempotent and names the world's ids; it changes nothing here.
            refs = observe.references(await seed_demo(self._db, inp.eval_tenant_id))
            async with self._db.tenant_session(inp.eval_tenant_id) as session:
                turns = await observe.transcript(session, inp.conversation_id)
                world = await observe.world(session, refs, inp.conversation_id)
                prompt, completion, cost, model = await observe.usage(session, inp.conversation_id)
            observation = observation.model_copy(
                update={
                    "turns": turns,
                    "world": world,
                    "refs": refs,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cost_usd": cost,
                    "model": model,
                }
            )
        verdicts = grade(task, observation)
        if inp.judge is not None and task.rubric and not observation.error:
            verdicts.append(await self._judge(inp.judge, task.rubric, observation))
        result = TaskResult(task_id=task.id, passed=passed(verdicts), verdicts=verdicts, observation=observation)
        async with self._db.tenant_session(inp.tenant_id) as session:
            await store.save_result(
                session,
                tenant_id=inp.tenant_id,
                run_id=inp.run_id,
                task=task,
                result=result,
                eval_tenant_id=inp.eval_tenant_id,
            )
        TASKS_GRADED.labels(outcome="passed" if result.passed else "failed").inc()
        return TaskGrade(task_id=task.id, passed=result.passed)

    @staticmethod
    async def _judge(settings: JudgeSettings, rubric: str, observation: Observation) -> Verdict:
        judge = recorded_judge(settings.model, Path(settings.recordings), record=settings.record)
        verdict = await rubric_verdict(judge, rubric, observation, repeats=settings.repeats, gating=settings.gating)
        JUDGE_VERDICTS.labels(outcome="passed" if verdict.passed else "failed").inc()
        return verdict

    @activity.defn(name=ACT_EVAL_FINISH_RUN)
    async def finish_run(self, inp: FinishRunInput) -> EvalRunResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            total, passed_count = await store.finish_run(session, inp.run_id, inp.error)
        log.info("eval run finished", run_id=inp.run_id, total=total, passed=passed_count)
        return EvalRunResult(run_id=inp.run_id, total=total, passed=passed_count)

    def all(self) -> list[Callable[..., Any]]:
        return [self.prepare_task, self.grade_task, self.finish_run]
