"""Walk a decision's chain: the first model, then its fallbacks, until one answers.

A model is skipped while it cools down (shared `Health`), unless it is the last one left; the skip is a
fallback too (cause `cooldown`). A failure the next
provider may not share (429, 5xx, timeouts, a refused key, an unknown model) moves on to the next model; a
context window too small moves on to the chain's models with a larger window; a request no
provider could answer (a bad request, refused content) fails at once, as does any failure after the answer
began to stream (a second answer would stream over the first; Temporal's retry starts it afresh). Every move
is reported through `on_fallback`, which the model activity turns into an event and a metric.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter
from temporalio.exceptions import ApplicationError

from contracts.errors import ModelErrorType
from router.catalog import Catalog
from router.health import Health

T = TypeVar("T")

FALLBACKS = Counter("aiaas_model_fallbacks_total", "Model calls moved to the next model of a chain", ["cause"])

_NEXT_MODEL = frozenset(
    {
        ModelErrorType.RATE_LIMITED,
        ModelErrorType.UNAVAILABLE,
        ModelErrorType.TIMEOUT,
        ModelErrorType.CONFLICT,
        ModelErrorType.AUTHENTICATION_FAILED,
        ModelErrorType.NOT_FOUND,
    }
)
CONTEXT_WINDOW = "context_window"
COOLDOWN = "cooldown"


class MidStream(Exception):
    """A call that failed after its answer began: no fallback may answer over it."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def cause_of(error: BaseException) -> str | None:
    """Why the next model may succeed where this one failed; None when no fallback can help."""
    if not isinstance(error, ApplicationError):
        return ModelErrorType.UNAVAILABLE.value
    details = error.details[0] if error.details and isinstance(error.details[0], dict) else {}
    if details.get("provider_error") == "ContextWindowExceededError":
        return CONTEXT_WINDOW
    return error.type if error.type in _NEXT_MODEL else None


FallbackHook = Callable[[str, str, str], Awaitable[None]]


async def run_chain(
    chain: list[str],
    call: Callable[[str], Awaitable[T]],
    health: Health,
    *,
    catalog: Catalog,
    region: str,
    on_fallback: FallbackHook | None = None,
) -> tuple[T, str]:
    """The first answer along `chain`, and the model that gave it."""
    pending = list(chain)
    last: BaseException | None = None
    while pending:
        model = pending.pop(0)
        if pending and not await health.available(model):
            FALLBACKS.labels(cause=COOLDOWN).inc()
            if on_fallback is not None:
                await on_fallback(model, pending[0], COOLDOWN)
            continue
        try:
            result = await call(model)
        except MidStream as partial:
            await health.failed(model)
            raise partial.error from None
        except Exception as error:
            cause = cause_of(error)
            if cause is None:
                raise
            last = error
            if cause == CONTEXT_WINDOW:
                pending = _larger_first(catalog, region, model, pending)
            else:
                await health.failed(model)
            if pending:
                FALLBACKS.labels(cause=cause).inc()
                if on_fallback is not None:
                    await on_fallback(model, pending[0], cause)
            continue
        await health.succeeded(model)
        return result, model
    assert last is not None, "a chain has at least one model"
    raise last


def _larger_first(catalog: Catalog, region: str, model: str, pending: list[str]) -> list[str]:
    """Only the chain's models with a larger window can take the same context, smallest window first. The
    chain was checked against the tenant's region and forbidden models; nothing outside it is added."""
    bigger = catalog.larger_context(model, region)
    return sorted((m for m in pending if m in bigger), key=bigger.index)
