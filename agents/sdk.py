"""The tool SDK: declare a tool once, get a versioned spec for models and workflows and an activity for workers.

    class LookupArgs(BaseModel):
        order_id: str

    @tool("orders.lookup", effect=Effect.READ, description="Find one of the customer's orders.")
    async def lookup(ctx: ToolContext, args: LookupArgs) -> OrderOut:
        async with ctx.session() as session:
            ...

The input model gives the JSON schema the model sees and validates the arguments the model sent; the spec
(`contracts.agents.ToolSpec`) carries timeouts, retries, effect, approval rule and compensation to the
workflow; `activities.tools.runtime` turns every registered tool into an activity named
`tools.<name>.v<version>` with enablement, circuit breaker, bulkhead, events and idempotency around it.

`policy` (a `contracts.provenance.ToolPolicy`) says when a model may call a write: which words of the
customer's request authorise it and which arguments must name something the customer gave; `origin` says
where the tool's output comes from (`Origin.KNOWLEDGE` for a document search), so the provenance check of
`workflows.provenance` treats it accordingly. Both are data on the spec, versioned with the tool.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, get_type_hints

from pydantic import BaseModel

from contracts.agents import ApprovalRule, Effect, RetrySpec, ToolSpec
from contracts.errors import ToolErrorType
from contracts.provenance import Origin, ToolPolicy

ToolFn = Callable[["ToolContext", Any], Awaitable[BaseModel]]


class ToolError(Exception):
    """A tool's refusal or failure; `type` becomes the activity error type, `retryable` decides retries."""

    type: str = ToolErrorType.ERROR
    retryable = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class ToolDenied(ToolError):
    """The caller may not do this (another customer's order, a role the tenant did not grant)."""

    type: str = ToolErrorType.DENIED


class ToolInputInvalid(ToolError):
    type: str = ToolErrorType.INPUT_INVALID


class ToolNotFound(ToolError):
    """The record the call names does not exist (or belongs to someone else: the answer is the same)."""

    type: str = ToolErrorType.NOT_FOUND


class ToolConflict(ToolError):
    """The world is not in a state that allows the call (cancel a shipped order, refund twice)."""

    type: str = ToolErrorType.CONFLICT


class ToolTransientError(ToolError):
    """A dependency failed in a way a later attempt may not: Temporal retries with the tool's policy."""

    type: str = ToolErrorType.TRANSIENT
    retryable = True


class SessionFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[Any]: ...


@dataclass(frozen=True)
class ToolContext:
    """What a tool implementation may use; built per call by the runtime."""

    tenant_id: str
    conversation_id: str
    message_id: str
    call_id: str
    customer_id: str | None
    idempotency_key: str
    attempt: int
    # A tenant-bound database session (one transaction, RLS applies): `async with ctx.session() as s`.
    session: Callable[[], AbstractAsyncContextManager[Any]]
    # Connectors to external systems by name (`payments`, `shipping`, `crm`).
    connectors: dict[str, Any] = field(default_factory=dict)
    heartbeat: Callable[..., None] = lambda *details: None

    def connector(self, name: str) -> Any:
        try:
            return self.connectors[name]
        except KeyError:
            raise ToolTransientError(f"connector {name!r} is not configured") from None

    def require_customer(self) -> str:
        if not self.customer_id:
            raise ToolDenied("this conversation is not bound to a customer")
        return self.customer_id


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    input_model: type[BaseModel]
    output_model: type[BaseModel] | None
    fn: ToolFn | None  # None for saga tools, which run as a child workflow

    @property
    def activity_name(self) -> str:
        return self.spec.activity_name


class ToolRegistry:
    """Every tool by name and version; the latest version is what an unpinned agent gets."""

    def __init__(self) -> None:
        self._tools: dict[tuple[str, int], Tool] = {}

    def register(self, item: Tool) -> Tool:
        key = (item.spec.name, item.spec.version)
        if key in self._tools and self._tools[key] is not item:
            raise ValueError(f"tool {item.spec.name} v{item.spec.version} is registered twice")
        self._tools[key] = item
        return item

    def get(self, name: str, version: int | None = None) -> Tool | None:
        if version is not None:
            return self._tools.get((name, version))
        versions = [v for (n, v) in self._tools if n == name]
        return self._tools[(name, max(versions))] if versions else None

    def resolve(self, ref: str) -> Tool | None:
        """`name` (latest) or `name@version`."""
        name, _, version = ref.partition("@")
        if version:
            return self.get(name, int(version)) if version.isdigit() else None
        return self.get(name)

    def all(self) -> list[Tool]:
        return [self._tools[key] for key in sorted(self._tools)]


REGISTRY = ToolRegistry()


def tool(
    name: str,
    *,
    description: str,
    effect: Effect,
    version: int = 1,
    timeout_seconds: float = 30.0,
    heartbeat_seconds: float | None = None,
    retry: RetrySpec | None = None,
    compensation: str | None = None,
    approval: ApprovalRule | None = None,
    max_concurrent: int = 8,
    agent_visible: bool = True,
    cost_usd: float = 0.0,
    policy: ToolPolicy | None = None,
    origin: Origin = Origin.TOOL_RESULT,
    registry: ToolRegistry | None = None,
    answer_template: str | None = None,
) -> Callable[[ToolFn], ToolFn]:
    """Declare `fn(ctx, args: InputModel) -> OutputModel` as a tool and register it."""

    def register(fn: ToolFn) -> ToolFn:
        input_model, output_model = _models_of(fn)
        spec = ToolSpec(
            name=name,
            version=version,
            description=description,
            effect=effect,
            input_schema=input_model.model_json_schema(),
            timeout_seconds=timeout_seconds,
            heartbeat_seconds=heartbeat_seconds,
            retry=retry or RetrySpec(),
            compensation=compensation,
            approval=approval,
            max_concurrent=max_concurrent,
            agent_visible=agent_visible,
            cost_usd=cost_usd,
            policy=policy,
            origin=origin,
            answer_template=answer_template,
        )
        (registry or REGISTRY).register(Tool(spec=spec, input_model=input_model, output_model=output_model, fn=fn))
        return fn

    return register


def saga_tool(
    name: str,
    *,
    description: str,
    input_model: type[BaseModel],
    workflow: str,
    effect: Effect = Effect.WRITE,
    version: int = 1,
    timeout_seconds: float = 600.0,
    approval: ApprovalRule | None = None,
    cost_usd: float = 0.0,
    policy: ToolPolicy | None = None,
    registry: ToolRegistry | None = None,
) -> Tool:
    """Declare a tool that runs as the saga workflow `workflow` (input `ToolCallInput`, result `ToolCallResult`)."""
    spec = ToolSpec(
        name=name,
        version=version,
        description=description,
        effect=effect,
        input_schema=input_model.model_json_schema(),
        timeout_seconds=timeout_seconds,
        approval=approval,
        saga=workflow,
        cost_usd=cost_usd,
        policy=policy,
    )
    return (registry or REGISTRY).register(Tool(spec=spec, input_model=input_model, output_model=None, fn=None))


def _models_of(fn: ToolFn) -> tuple[type[BaseModel], type[BaseModel] | None]:
    hints = get_type_hints(fn)
    params = list(inspect.signature(fn).parameters)
    if len(params) != 2:
        raise TypeError(f"tool {fn.__name__} must take (ctx, args)")
    input_model = hints.get(params[1])
    if not (isinstance(input_model, type) and issubclass(input_model, BaseModel)):
        raise TypeError(f"tool {fn.__name__}: its args must be annotated with a pydantic model")
    output = hints.get("return")
    output_model = output if isinstance(output, type) and issubclass(output, BaseModel) else None
    return input_model, output_model
