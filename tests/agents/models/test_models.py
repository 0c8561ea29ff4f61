"""Model selection and the built-in providers, called through litellm as the activity does."""

from __future__ import annotations

import json

import litellm
import pytest

from agents.models import local, local_weights
from agents.models.registry import describe_default_models, model_for, register_builtin_providers
from contracts.conversation import Tier
from core.settings import Settings


async def _stream(model: str, text: str, attempt: int = 1) -> str:
    register_builtin_providers()
    response = await litellm.acompletion(
        model=model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        num_retries=0,
        metadata={"attempt": attempt},
    )
    parts = [c.choices[0].delta.content async for c in response if c.choices and c.choices[0].delta.content]
    assert len(parts) >= 1
    return "".join(parts)


async def test_scripted_echo_streams_the_users_text_in_several_deltas() -> None:
    register_builtin_providers()
    response = await litellm.acompletion(
        model="scripted/echo", messages=[{"role": "user", "content": "one two three four five"}], stream=True
    )
    deltas = [c.choices[0].delta.content async for c in response if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 3
    assert "".join(deltas) == "echo: one two three four five"


async def test_scripted_flaky_fails_first_then_answers() -> None:
    with pytest.raises(Exception) as first:
        await _stream("scripted/flaky-echo", "hi", attempt=1)
    assert getattr(first.value, "status_code", None) == 429
    assert await _stream("scripted/flaky-echo", "hi", attempt=2) == "echo: hi"


async def test_unknown_scripted_model_is_not_found() -> None:
    with pytest.raises(Exception) as raised:
        await _stream("scripted/nope", "hi")
    assert getattr(raised.value, "status_code", None) == 404


def test_model_selection_prefers_agent_pins_then_tiers() -> None:
    settings = Settings(
        model_small="scripted/echo", model_large="gpt-4o", agent_models=json.dumps({"orders": "scripted/slow-echo"})
    )
    assert model_for(settings, "orders", Tier.SMALL) == "scripted/slow-echo"
    assert model_for(settings, "support", Tier.SMALL) == "scripted/echo"
    assert model_for(settings, "support", Tier.LARGE) == "gpt-4o"
    assert "small=scripted/echo" in describe_default_models(settings)
    with pytest.raises(ValueError):
        model_for(Settings(agent_models="[1, 2]"), "x", Tier.SMALL)


def test_without_a_configured_model_the_tool_calling_script_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's PLAN examples run on the default model: it must be the script that calls tools."""
    monkeypatch.setattr(local_weights, "available", lambda: False)
    settings = Settings(model_small="", model_large="", agent_models="")
    assert model_for(settings, "support", Tier.SMALL) == "scripted/agent"
    assert model_for(settings, "orders", Tier.LARGE) == "scripted/agent"
    assert "small=scripted/agent" in describe_default_models(settings)


@pytest.mark.skipif(not local.available(), reason="the `local` extra is not installed or cannot run here")
async def test_local_model_smoke() -> None:
    """The tiny local model answers something through litellm; weak, so only the shape is checked."""
    answer = await _stream("local/smollm2", "Say hello to a customer in one sentence.")
    assert answer.strip()
