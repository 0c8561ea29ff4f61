"""Golden tasks as data: a conversation with an agent, the customer it acts for, the world it starts from, and
what must be true afterwards.

Suites live as YAML under `evals/suites/`; these models validate them on load (a misspelt field is refused,
as everywhere in `contracts`) and travel to the workers inside an eval run's row, so the graders
(`grading/`) and the runner (`workflows/eval_run.py`) read the same shapes.

Records of the seeded world are named by reference, never by id: `{order:ada.placed}`, `{customer:ada}`,
`{sku:SKU-MUG}`. Each task runs in a tenant of its own whose ids differ, and a reference is replaced by the
id in that tenant wherever it appears in a turn, an argument or an expectation.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from contracts.base import Frozen

TASK_ID = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
REFERENCE = re.compile(r"\{(order|customer|sku):([A-Za-z0-9_.-]+)\}")
AGENTS = ("support", "orders", "leads")
CUSTOMERS = ("ada", "bob")
WORLDS = ("demo",)


class ApprovalAnswer(StrEnum):
    """What the reviewing human answers when a call in this turn waits for approval."""

    APPROVE = "approve"
    DENY = "deny"


class Turn(Frozen):
    """One customer message. `plan` is the script `scripted/agent` follows (a real model never sees it)."""

    text: str = Field(min_length=1, max_length=4000)
    plan: list[dict[str, Any]] | None = None
    approval: ApprovalAnswer = ApprovalAnswer.DENY
    # The customer's answer when the platform asks them to confirm an action.
    confirm: bool = True


class ToolCallExpectation(Frozen):
    tool: str = Field(min_length=1, max_length=100)
    # Only the named arguments are compared; others the call carries are ignored.
    args: dict[str, Any] = Field(default_factory=dict)
    # Words a string argument must contain (case-insensitive, any order): a search query's key terms.
    args_contain: dict[str, list[str]] = Field(default_factory=dict)
    # ok | error | denied | pending ... as in `tool_calls.status`; empty: any status.
    status: str = ""


class ToolExpectations(Frozen):
    calls: list[ToolCallExpectation] = Field(default_factory=list)
    # True: the calls must appear in this order (other calls may sit between them).
    ordered: bool = False
    # True: no call other than the listed ones may have been made.
    exact: bool = False
    # Tools that must not have run successfully.
    forbidden: list[str] = Field(default_factory=list)


class OrderState(Frozen):
    status: str | None = None
    refunded_cents: int | None = Field(default=None, ge=0)


class WorldExpectations(Frozen):
    orders: dict[str, OrderState] = Field(default_factory=dict)
    tickets_opened: int | None = Field(default=None, ge=0)
    leads_captured: int | None = Field(default=None, ge=0)
    orders_placed: int | None = Field(default=None, ge=0)
    approvals_requested: int | None = Field(default=None, ge=0)


class AnswerCheck(Frozen):
    """One check of the final answer: exactly one of `contains`, `not_contains`, `regex`, `json_schema`."""

    contains: str | None = None
    not_contains: str | None = None
    regex: str | None = None
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> AnswerCheck:
        given = [v for v in (self.contains, self.not_contains, self.regex, self.json_schema) if v is not None]
        if len(given) != 1:
            raise ValueError("an answer check needs exactly one of contains, not_contains, regex, json_schema")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.regex!r}: {exc}") from exc
        return self


class Expectations(Frozen):
    tools: ToolExpectations = Field(default_factory=ToolExpectations)
    world: WorldExpectations = Field(default_factory=WorldExpectations)
    answer: list[AnswerCheck] = Field(default_factory=list)


class GoldenTask(Frozen):
    id: str = Field(pattern=TASK_ID)
    agent: str
    customer: str | None = None
    world: str = "demo"
    category: str = Field(default="", max_length=50)
    turns: list[Turn] = Field(min_length=1, max_length=10)
    expect: Expectations = Field(default_factory=Expectations)
    rubric: str = Field(default="", max_length=2000)
    # Text written into an order's note before the conversation (order label -> note): what a third party
    # could have written there, e.g. an injected instruction.
    plant: dict[str, str] = Field(default_factory=dict)
    # Documents under `evals/knowledge/` ingested into the task's tenant before the conversation, searchable
    # through `knowledge.search` (file names only: `returns-policy.md`).
    knowledge: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        if value not in AGENTS:
            raise ValueError(f"unknown agent {value!r}; one of {', '.join(AGENTS)}")
        return value

    @field_validator("customer")
    @classmethod
    def _customer(cls, value: str | None) -> str | None:
        if value is not None and value not in CUSTOMERS:
            raise ValueError(f"unknown customer {value!r}; one of {', '.join(CUSTOMERS)} or none")
        return value

    @field_validator("world")
    @classmethod
    def _world(cls, value: str) -> str:
        if value not in WORLDS:
            raise ValueError(f"unknown world seed {value!r}; one of {', '.join(WORLDS)}")
        return value


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """`value` with every `{kind:name}` reference replaced by its id in `refs` (unknown ones stay)."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda m: refs.get(f"{m.group(1)}:{m.group(2)}", m.group(0)), value)
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    return value


class Verdict(Frozen):
    """One grader's finding on one task."""

    grader: str
    passed: bool
    detail: str = ""
    # A judge's verdict: the median score of its repeats and their spread (max - min); none for the others.
    score: float | None = None
    spread: float | None = None
    # False: reported with the task but not part of its pass (a judge's verdict on a run that asked so).
    gating: bool = True
