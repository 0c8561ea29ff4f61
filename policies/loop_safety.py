"""Loop safety for the agent's tool loop: when to stop a turn that is not getting anywhere.

Pure and deterministic (no I/O, no clock, no randomness), so the conversation workflow runs it inside the
sandbox and a replay takes the same decisions. One guard watches one turn:

    guard = LoopGuard(definition.limits, steps_total=inp.steps_total)
    while True:
        if cut := guard.before_step(): ...          # step ceilings (turn, conversation); counts the step
        result = <model call>
        if cut := guard.add_usage(tokens, cost): ...  # token and cost ceilings of the turn
        if not result.tool_calls: break               # the final answer
        <run the calls>
        if cut := guard.after_step([(tool, arguments, result_hash), ...], failed=all_failed): ...

After each step with tool calls the guard reduces the step to a *state*: the hash of its calls' tools,
arguments and results. Progress means new states. The same state seen `no_progress_repeats` times in the
turn is no progress, and so are `no_progress_repeats` consecutive steps whose calls all failed (the model
keeps trying things that do not work). A cycle of states of period 2..window/2 repeated twice in a row
within the last `oscillation_window` states is oscillation (A, B, A, B: undo, redo, undo, redo). A cut is
sticky: once the guard has cut, every further check answers the same reason.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from contracts.agents import CutReason, LoopLimits
from contracts.tool_calls import stable_hash

# One tool call of a step: (dotted tool name, arguments, hash of its result).
StepCall = tuple[str, dict[str, Any], str]


def step_state(calls: list[StepCall]) -> str:
    """The state a step leaves: order-insensitive, so the same calls in another order are the same state."""
    per_call = sorted(stable_hash([tool, arguments, result]) for tool, arguments, result in calls)
    return stable_hash(per_call)


def find_cycle(states: list[str], window: int) -> int | None:
    """The shortest period p (2 <= p <= window // 2) whose last 2p states are one cycle repeated twice."""
    recent = states[-window:]
    for period in range(2, window // 2 + 1):
        if len(recent) < 2 * period:
            break
        cycle = recent[-period:]
        if recent[-2 * period : -period] == cycle and len(set(cycle)) > 1:
            return period
    return None


class LoopGuard:
    def __init__(self, limits: LoopLimits, steps_total: int = 0) -> None:
        self._limits = limits
        self._steps_turn = 0
        self._steps_total = max(0, steps_total)
        self._states: list[str] = []
        self._seen: Counter[str] = Counter()
        self._failed_streak = 0
        self._tokens = 0
        self._cost = 0.0
        self._reason: CutReason | None = None
        self._detail = ""

    @property
    def steps_this_turn(self) -> int:
        return self._steps_turn

    @property
    def steps_total(self) -> int:
        return self._steps_total

    @property
    def tokens_this_turn(self) -> int:
        return self._tokens

    @property
    def cost_this_turn(self) -> float:
        return self._cost

    @property
    def reason(self) -> CutReason | None:
        return self._reason

    @property
    def detail(self) -> str:
        """Why the guard cut, in words for the transcript and operators; empty while it has not."""
        return self._detail

    def _cut(self, reason: CutReason, detail: str) -> CutReason:
        if self._reason is None:
            self._reason, self._detail = reason, detail
        return self._reason

    @property
    def limits(self) -> LoopLimits:
        return self._limits

    def adopt(self, limits: LoopLimits) -> None:
        """After a handoff the agent answering now brings its own ceilings; what the turn used so far (steps,
        tokens, cost, states seen) still counts, so handing off never buys a fresh budget."""
        self._limits = limits

    def before_step(self) -> CutReason | None:
        """Before a model call: None and the step is counted, or the ceiling that forbids another step."""
        if self._reason is not None:
            return self._reason
        if self._steps_turn >= self._limits.max_steps_per_turn:
            return self._cut(
                CutReason.MAX_STEPS_TURN, f"the turn took {self._steps_turn} steps, the most one turn may take"
            )
        if self._steps_total >= self._limits.max_steps_per_conversation:
            return self._cut(
                CutReason.MAX_STEPS_CONVERSATION,
                f"the conversation took {self._steps_total} steps, the most one conversation may take",
            )
        self._steps_turn += 1
        self._steps_total += 1
        return None

    def after_step(self, calls: list[StepCall], *, failed: bool = False) -> CutReason | None:
        """After a step's tool calls ran; `failed` says that every one of them failed."""
        if self._reason is not None:
            return self._reason
        if not calls:
            return None
        state = step_state(calls)
        self._states.append(state)
        self._seen[state] += 1
        self._failed_streak = self._failed_streak + 1 if failed else 0
        repeats = self._limits.no_progress_repeats
        tools = ", ".join(sorted({tool for tool, _, _ in calls}))
        if self._seen[state] >= repeats:
            return self._cut(
                CutReason.NO_PROGRESS, f"the same calls ({tools}) returned the same results {self._seen[state]} times"
            )
        if self._failed_streak >= repeats:
            return self._cut(CutReason.NO_PROGRESS, f"{self._failed_streak} steps in a row failed (last: {tools})")
        period = find_cycle(self._states, self._limits.oscillation_window)
        if period is not None:
            return self._cut(CutReason.OSCILLATION, f"the last {2 * period} steps repeat a cycle of {period} steps")
        return None

    def add_usage(self, tokens: int, cost_usd: float) -> CutReason | None:
        """After a model call: its tokens and cost count against the turn's ceilings."""
        self._tokens += max(0, int(tokens))
        self._cost += max(0.0, float(cost_usd))
        if self._reason is not None:
            return self._reason
        if self._tokens > self._limits.max_tokens_per_turn:
            return self._cut(
                CutReason.TOKEN_CEILING,
                f"the turn used {self._tokens} tokens, more than {self._limits.max_tokens_per_turn}",
            )
        if self._cost > self._limits.max_cost_usd_per_turn:
            return self._cut(
                CutReason.COST_CEILING,
                f"the turn cost ${self._cost:.4f}, more than ${self._limits.max_cost_usd_per_turn:.2f}",
            )
        return None
