"""How many starts a gateway process sends the engine at once, learned from how long they take.

The fair start queue (`policies/start_queue.py`) serves tenants in turn, but only the starts it holds back: a
start already sent waits in the engine's own queue, first come first served, and so does every task the
engine dispatches meanwhile. With a fixed width of 16, one tenant's flood kept 16 of its starts in the
engine at all times, and another tenant's first workflow task waited behind them (`python -m benchmarks
fairness`: 8.1x its time alone, 3.8x with a width of 4, on the same quiet machine). No fixed width suits every
engine, so the width follows the engine's latency, as TCP Vegas sizes a congestion window:

- the *base* latency is the fastest start seen lately (the minimum of the current and the previous window of
  `window` starts), the engine with nothing queued in front;
- a finished start that took `rtt` with `limit` allowed says about `limit * (1 - base / rtt)` starts were
  queued in the engine rather than being served;
- fewer than `alpha` queued, and the width in use: one more start at once (up to `ceiling`); more than
  `beta` queued: one fewer (down to `floor`). In between it holds.

A start that failed says nothing about the engine's queue and is not counted. The two-window minimum forgets
a base measured when the engine was faster (a bigger database, another deployment), so the width is not held
down by a latency the engine can no longer reach.
"""

from __future__ import annotations

import math


class VegasLimit:
    """A concurrency limit between `floor` and `ceiling`, moved one at a time by observed latencies."""

    def __init__(
        self, ceiling: int, *, floor: int = 2, alpha: float = 1.0, beta: float = 2.0, window: int = 200
    ) -> None:
        if not 1 <= floor <= ceiling:
            raise ValueError("1 <= floor <= ceiling is required")
        if not 0 <= alpha < beta:
            raise ValueError("0 <= alpha < beta is required")
        if window < 1:
            raise ValueError("window must be at least 1")
        self.ceiling = ceiling
        self.floor = floor
        self.alpha = alpha
        self.beta = beta
        self.window = window
        self._limit = ceiling
        self._seen = 0
        self._current_min = math.inf
        self._previous_min = math.inf

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def base(self) -> float:
        """The lowest latency of the last one to two windows (inf before the first sample)."""
        return min(self._current_min, self._previous_min)

    def observe(self, rtt: float, in_flight: int) -> int:
        """Record a start that succeeded in `rtt` seconds while `in_flight` starts (itself included) were
        out; returns the new limit."""
        if not rtt > 0 or not math.isfinite(rtt):
            return self._limit
        self._seen += 1
        self._current_min = min(self._current_min, rtt)
        if self._seen % self.window == 0:
            self._previous_min, self._current_min = self._current_min, math.inf
        queued = self._limit * (1.0 - self.base / rtt)
        if queued > self.beta:
            self._limit = max(self.floor, self._limit - 1)
        elif queued < self.alpha and in_flight * 2 >= self._limit:
            # Only a width in use is evidence that more would be served: an idle gateway keeps its limit.
            self._limit = min(self.ceiling, self._limit + 1)
        return self._limit
