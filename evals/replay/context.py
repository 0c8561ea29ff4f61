"""The messages and tool declarations of one recorded model step, rebuilt from the recording the way
`agents.context.ContextAssembler` builds them from Postgres: the (candidate's) system prompt with the
platform's rules and the turn's spotlight marker, the transcript before the message (earlier turns of this
run: the customer's words and the answers), and this turn's earlier steps with their recorded results.
"""

from __future__ import annotations

from typing import Any

from agents import prompt
from contracts.agents import ResolvedAgent
from evals.replay.recorded import Conversation, Turn

# `Settings.history_turns` (20) turns of the transcript, as the model activity reads it.
HISTORY_MESSAGES = 40


def transcript(conv: Conversation, turn_index: int, limit: int = HISTORY_MESSAGES) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for turn in conv.turns[:turn_index]:
        messages.append({"role": "user", "content": turn.content})
        if turn.answer is not None:
            messages.append({"role": "assistant", "content": turn.answer})
    current = conv.turns[turn_index]
    return [*messages, {"role": "user", "content": current.content}][-limit:]


def tool_schemas(agent: ResolvedAgent) -> list[dict[str, Any]]:
    """What the step offers: the agent's visible tools, then the handoff when it has targets."""
    schemas = [spec.model_schema() for spec in agent.tools if spec.agent_visible]
    if agent.definition.handoff_targets:
        schemas.append(prompt.handoff_schema(agent.definition.handoff_targets))
    return schemas


def messages_for(conv: Conversation, turn_index: int, step_index: int, agent: ResolvedAgent) -> list[dict[str, Any]]:
    turn: Turn = conv.turns[turn_index]
    step = turn.steps[step_index]
    spotlight = step.inp.spotlight
    rows = [call.row(earlier.step) for earlier in turn.steps[:step_index] for call in earlier.calls]
    origins: dict[str, str] = {}
    for earlier in turn.steps[:step_index]:
        for spec in earlier.resolved.tools if earlier.resolved is not None else []:
            origins.setdefault(spec.name, spec.origin.value)
    return [
        {"role": "system", "content": prompt.system_prompt(agent.definition, spotlight)},
        *transcript(conv, turn_index),
        *prompt.tool_step_messages(rows, step.step, spotlight, origins),
    ]
