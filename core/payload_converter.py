"""The pydantic payload converter, with one cache of type adapters for the whole process.

Temporal builds a payload converter for every workflow run it holds (and one more with the run's context),
and the SDK's pydantic converter keeps its own cache of `TypeAdapter`s per instance, so a cached
conversation run carried about nine adapters of its own (docs/architecture.md, "Worker memory"). An
adapter holds no state of a run, so every converter in the process shares these.
"""

from __future__ import annotations

import functools
from typing import Any

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import CompositePayloadConverter, DefaultPayloadConverter, JSONPlainPayloadConverter

# As many as the SDK's own per-converter cache keeps; the platform's contracts need a few dozen.
MAX_ADAPTERS = 1024


@functools.lru_cache(maxsize=MAX_ADAPTERS)
def shared_adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


class SharedAdapterJSONConverter(PydanticJSONPlainPayloadConverter):
    """`json/plain` through pydantic, with the process's shared type adapters."""

    def from_payload(self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None) -> Any:
        hint: Any = type_hint if type_hint is not None else Any
        try:
            hash(hint)
        except TypeError:
            return TypeAdapter(hint).validate_json(payload.data)  # an unhashable hint cannot be cached
        return shared_adapter(hint).validate_json(payload.data)


class SharedPydanticPayloadConverter(CompositePayloadConverter):
    """`temporalio.contrib.pydantic.PydanticPayloadConverter` with `SharedAdapterJSONConverter` for JSON."""

    def __init__(self) -> None:
        json_converter = SharedAdapterJSONConverter(max_cached_type_adapters=0)
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )
