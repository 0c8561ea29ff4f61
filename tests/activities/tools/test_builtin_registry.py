"""The built-in tools as models and workflows see them: registered, strict, described, and classified."""

from __future__ import annotations

from typing import Any

from commerce.tools import BUILTIN_TOOLS, load_builtin_tools
from contracts.agents import Effect

EFFECTS = {
    "customers.lookup": Effect.READ,
    "orders.lookup": Effect.READ,
    "orders.list": Effect.READ,
    "orders.cancel": Effect.IRREVERSIBLE,
    "inventory.check": Effect.READ,
    "shipments.track": Effect.READ,
    "leads.capture": Effect.WRITE,
    "leads.score": Effect.WRITE,
    "leads.qualify": Effect.WRITE,
    "tickets.create": Effect.WRITE,
    "tickets.escalate": Effect.WRITE,
}


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object schema in `schema`, nested definitions included."""
    found = [schema] if schema.get("type") == "object" else []
    for definition in schema.get("$defs", {}).values():
        found.extend(_objects(definition))
    return found


def test_every_builtin_tool_is_registered_with_its_effect() -> None:
    registry = load_builtin_tools()
    assert set(BUILTIN_TOOLS) == set(EFFECTS)
    for name, effect in EFFECTS.items():
        registered = registry.get(name)
        assert registered is not None, name
        assert registered.spec.effect == effect, name
        assert registered.activity_name == f"tools.{name}.v1"
        assert registered.fn is not None and registered.output_model is not None


def test_inputs_and_outputs_are_strict_and_described_for_a_model() -> None:
    registry = load_builtin_tools()
    for name in BUILTIN_TOOLS:
        registered = registry.get(name)
        assert registered is not None
        spec = registered.spec
        assert len(spec.description) >= 60, name
        for schema in _objects(spec.input_schema):
            assert schema.get("additionalProperties") is False, name
        assert registered.output_model is not None
        for schema in _objects(registered.output_model.model_json_schema()):
            assert schema.get("additionalProperties") is False, name
        declaration = spec.model_schema()["function"]
        assert declaration["name"] == name.replace(".", "__")


def test_timeouts_and_retries_fit_the_effect() -> None:
    registry = load_builtin_tools()
    for name in BUILTIN_TOOLS:
        spec = registry.get(name).spec  # type: ignore[union-attr]
        assert 0 < spec.timeout_seconds <= 120, name
        assert spec.retry.max_attempts >= 3, name
        assert spec.approval is None, name
        assert spec.agent_visible, name
    # A cancel spends time on refunds through the payments connector; reads are quick.
    assert registry.get("orders.cancel").spec.timeout_seconds > registry.get("orders.lookup").spec.timeout_seconds  # type: ignore[union-attr]


def test_ids_in_inputs_are_uuids() -> None:
    registry = load_builtin_tools()
    for name, field in (("orders.lookup", "order_id"), ("orders.cancel", "order_id"), ("leads.score", "lead_id")):
        schema = registry.get(name).spec.input_schema  # type: ignore[union-attr]
        assert "[0-9a-fA-F]{8}-" in schema["properties"][field]["pattern"], name
