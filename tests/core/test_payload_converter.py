"""The platform's payload converter: pydantic round trips, with one set of type adapters per process."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from temporalio.converter import DataConverter

from contracts.agents import ResolvedAgent
from contracts.conversation import ConversationInput, QueuedMessage
from core.payload_converter import SharedPydanticPayloadConverter, shared_adapter
from core.temporal_plugin import aiaas_plugin


def test_values_round_trip_with_their_types() -> None:
    converter = SharedPydanticPayloadConverter()
    inp = ConversationInput(
        tenant_id="t1",
        conversation_id="c1",
        pending=[QueuedMessage(message_id="m1", content="hello")],
        seen_message_ids=["m0"],
    )
    values = [inp, [inp], {"when": datetime(2026, 1, 2, tzinfo=UTC)}, None, b"raw"]
    hints = [ConversationInput, list[ConversationInput], dict[str, datetime], None, bytes]
    assert converter.from_payloads(converter.to_payloads(values), hints) == values


def test_runs_share_the_type_adapters() -> None:
    # Temporal builds a converter per workflow run; none of them may build its own adapters.
    first, second = SharedPydanticPayloadConverter(), SharedPydanticPayloadConverter()
    payloads = first.to_payloads([["a", "b"]])
    before = shared_adapter.cache_info()
    assert first.from_payloads(payloads, [list[str]]) == [["a", "b"]]
    assert second.from_payloads(payloads, [list[str]]) == [["a", "b"]]
    after = shared_adapter.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 1
    assert shared_adapter(ResolvedAgent) is shared_adapter(ResolvedAgent)


def test_an_unhashable_hint_still_converts() -> None:
    converter = SharedPydanticPayloadConverter()
    hint = Annotated[list[int], []]  # metadata that cannot be hashed, so no cache can hold its adapter
    before = shared_adapter.cache_info()
    assert converter.from_payloads(converter.to_payloads([[1, 2]]), [hint]) == [[1, 2]]  # type: ignore[list-item]
    assert shared_adapter.cache_info().currsize == before.currsize


def test_the_plugin_configures_it() -> None:
    converter = aiaas_plugin().configure_client({"data_converter": DataConverter.default})["data_converter"]
    assert converter.payload_converter_class is SharedPydanticPayloadConverter
