"""Replay regression: re-ask a candidate model (prompt, agent, router setting) the questions a recorded
conversation asked, answering every tool call from the recorded result, and report where decisions diverge.

    history.py    recorded histories (test recordings, `temporal workflow show --output json`) as events
    extract.py    the agent loop of a conversation history: turns, model steps, tool calls and results
    gate.py       the platform's checks of a tool call (visibility, arguments, provenance, approval)
    candidate.py  what is changed: model, system prompt, agent definition, tool specs, router threshold
    model.py      one model call through litellm, as the model activity makes it, without the world
    diff.py       structured and text diffs of two decisions
    runner.py     the walk along the recorded path, step by step
    report.py     JSON and text reports, the summary table
    cli.py        `python -m evals.replay`
    planted.py    deterministic faulty models for the planted-regression benchmark and tests

Nothing here runs a tool, opens a database or reaches a Temporal server: see docs/evals-replay.md.
"""

import os

# litellm fetches its price list at import unless told not to; nothing here may reach a network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
