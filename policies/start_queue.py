"""A fair admission queue in front of the engine's starts, one per gateway process.

Measured on the embedded stack: when one tenant fires hundreds of starts at once, the engine takes them in
the order they arrive, so another tenant's single start waits behind the whole burst before its run even
exists, whatever the task queue's fairness keys do afterwards. This queue keeps the engine's own backlog of
starts short (at most `in_flight` calls from this process at once) and holds the rest here, one line per
tenant, served in round-robin: a slot that frees goes to the next tenant in turn, not to the oldest caller.
A quiet tenant's start therefore waits for at most one turn of each other waiting tenant, not for a flood's
whole backlog.

A turn is as long as the tenant's plan weight says (deficit round-robin: each visit adds the weight to the
tenant's credit and every start served spends one), so while all wait, tenants get slots in proportion to
their weights, the plan's `fairness_weight` that Temporal's fairness keys use after the start as well. With
weights 1 and 20, the weight-20 tenant gets twenty starts for the other's one; a fractional weight gets a
start every few rounds. Equal weights give plain round-robin, one start a turn.

How many calls are out at once is `in_flight`, or, given a `VegasLimit` (`policies/start_limit.py`), what
that limit has learned from the engine's latency, with `in_flight` as its ceiling; a narrower limit takes
effect as calls finish, a wider one at once.

Bounded both ways, so nothing waits without end: a tenant may have at most `per_tenant_waiting` starts in
line (`StartQueueFull` beyond), and a start waits at most `max_wait_seconds` (`StartWaitExpired`). Both are
refusals the caller turns into a 429 with `Retry-After`; the start was never sent, so a retry is safe.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from policies.start_limit import VegasLimit


class StartRefused(Exception):
    """The start was not sent to the engine; `retry_after_seconds` is when to try again."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class StartQueueFull(StartRefused):
    """The tenant's line already holds `per_tenant_waiting` starts: refused at once, nothing queued."""


class StartWaitExpired(StartRefused):
    """The start waited `max_wait_seconds` for a slot without getting one: its place in the line is given up."""


class FairStartQueue:
    def __init__(
        self, in_flight: int, per_tenant_waiting: int, max_wait_seconds: float, *, adaptive: VegasLimit | None = None
    ) -> None:
        if in_flight < 1 or per_tenant_waiting < 0 or max_wait_seconds < 0:
            raise ValueError("in_flight >= 1, per_tenant_waiting >= 0 and max_wait_seconds >= 0 are required")
        if adaptive is not None and adaptive.ceiling != in_flight:
            raise ValueError("an adaptive limit's ceiling must be in_flight")
        self.max_in_flight = in_flight
        self.adaptive = adaptive
        self.per_tenant_waiting = per_tenant_waiting
        self.max_wait_seconds = max_wait_seconds
        self._in_flight = 0
        # Tenants with starts in line, in the order they are served next; each with its callers, oldest first.
        self._lines: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        # Of the tenants in line: their weight, and the credit left of their current turn.
        self._weights: dict[str, float] = {}
        self._credit: dict[str, float] = {}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def in_flight_limit(self) -> int:
        """How many calls may be out now: `in_flight`, or the adaptive limit's current width."""
        return self.max_in_flight if self.adaptive is None else self.adaptive.limit

    def waiting(self, tenant_id: str | None = None) -> int:
        if tenant_id is not None:
            return len(self._lines.get(tenant_id, ()))
        return sum(len(line) for line in self._lines.values())

    @asynccontextmanager
    async def slot(self, tenant_id: str, weight: float = 1.0) -> AsyncIterator[float]:
        """Hold one of the engine's start slots for the block; yields how long the start waited for it.
        `weight` (> 0) is the tenant's share of the slots while other tenants wait too."""
        if not weight > 0:
            raise ValueError("weight must be positive")
        started = time.monotonic()
        await self._acquire(tenant_id, weight)
        sent = time.monotonic()
        try:
            yield sent - started
        except BaseException:
            self._release()
            raise
        if self.adaptive is not None:
            self.adaptive.observe(time.monotonic() - sent, self._in_flight)
        self._release()

    async def _acquire(self, tenant_id: str, weight: float) -> None:
        if self._in_flight < self.in_flight_limit and not self._lines:
            self._in_flight += 1
            return
        line = self._lines.get(tenant_id)
        if self.per_tenant_waiting == 0 or (line is not None and len(line) >= self.per_tenant_waiting):
            raise StartQueueFull(
                f"{self.per_tenant_waiting} starts of this tenant are already waiting", self._retry_after()
            )
        if line is None:
            line = self._lines[tenant_id] = deque()
            self._credit[tenant_id] = 0.0
        self._weights[tenant_id] = weight
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=self.max_wait_seconds)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the wait ended: pass it on rather than lose it.
                self._release()
            else:
                waiter.cancel()
                self._forget(tenant_id, waiter)
            if isinstance(exc, TimeoutError):
                raise StartWaitExpired(
                    f"no start slot within {self.max_wait_seconds:g} s", self._retry_after()
                ) from None
            raise

    def _release(self) -> None:
        """Free a slot and hand the free slots to the tenants next in turn."""
        self._in_flight -= 1
        while self._in_flight < self.in_flight_limit and self._lines:
            waiter = self._next_waiter()
            if not waiter.done():
                waiter.set_result(None)
                self._in_flight += 1

    def _next_waiter(self) -> asyncio.Future[None]:
        """The caller whose turn it is (deficit round-robin); the lines must not be empty."""
        while True:
            tenant_id, line = next(iter(self._lines.items()))
            credit = self._credit[tenant_id]
            if credit < 1.0:
                # A new turn for this tenant: its weight is added to what its last turn left.
                credit += self._weights[tenant_id]
                if credit < 1.0:  # a weight below one: not yet a whole start; the next tenant's turn
                    self._credit[tenant_id] = credit
                    self._lines.move_to_end(tenant_id)
                    continue
            waiter = line.popleft()
            credit -= 1.0
            self._credit[tenant_id] = credit
            if not line:
                self._drop(tenant_id)
            elif credit < 1.0:
                self._lines.move_to_end(tenant_id)  # its turn is over: its next start waits for the others'
            return waiter

    def _drop(self, tenant_id: str) -> None:
        """The tenant has nobody left in line: a later start begins a fresh line with no credit kept."""
        del self._lines[tenant_id]
        self._weights.pop(tenant_id, None)
        self._credit.pop(tenant_id, None)

    def _forget(self, tenant_id: str, waiter: asyncio.Future[None]) -> None:
        line = self._lines.get(tenant_id)
        if line is None:
            return
        try:
            line.remove(waiter)
        except ValueError:
            return
        if not line:
            self._drop(tenant_id)

    def _retry_after(self) -> float:
        # A rough time for the line to move: at least a second, more the longer the lines are.
        return max(1.0, self.waiting() / max(1, self.in_flight_limit) * 0.1)
