"""The data converter of every client, worker and replayer: the SDK's, bound to a context without rebuilding it.

Workers bind the data converter to the workflow or activity a payload belongs to (the payload codec takes its
tenant from that workflow id) several times per workflow activation and once per activity task. The SDK's
`DataConverter.with_context` clones with `dataclasses.replace`, which runs `__post_init__` and so builds a new
payload converter (pydantic's, with its JSON converters) and a new failure converter, only to replace both
with the bound ones a line later. In a worker's profile under the turn benchmark that discarded work was
about a tenth of the worker's time. This subclass clones without `__init__`: the same components bound the
same way, nothing built to be thrown away; and it keeps the bindings of recent contexts, since a turn binds
the same few contexts dozens of times.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import Any, Self

from temporalio.converter import DataConverter, SerializationContext, WithSerializationContext

# Contexts a worker has bound recently (one per workflow and one per activity of it); bounded, since the
# workflow ids are unbounded. A binding holds no state of its own: the codec's keys are the keyring's.
_BINDINGS_KEPT = 1024


@dataclasses.dataclass(frozen=True)
class ContextBoundDataConverter(DataConverter):
    # The same context is bound many times per turn (about 75 bindings over a handful of contexts).
    _bindings: dict[SerializationContext, DataConverter] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def with_context(self, context: SerializationContext) -> Self:
        try:
            kept = self._bindings.get(context)
        except TypeError:  # a context that cannot be hashed is bound each time
            kept = None
        if kept is not None:
            return kept  # type: ignore[return-value]
        bound = self._bind(context)
        if bound is not self:
            if len(self._bindings) >= _BINDINGS_KEPT:
                self._bindings.clear()
            with contextlib.suppress(TypeError):
                self._bindings[context] = bound
        return bound

    def _bind(self, context: SerializationContext) -> Self:
        originals = {
            "payload_converter": self.payload_converter,
            "payload_codec": self.payload_codec,
            "failure_converter": self.failure_converter,
            "external_storage": self.external_storage,
        }
        bound = {
            name: part.with_context(context) if isinstance(part, WithSerializationContext) else part
            for name, part in originals.items()
        }
        if all(bound[name] is part for name, part in originals.items()):
            return self
        # A shallow copy takes the instance's fields as they are, without `__init__`/`__post_init__`.
        cloned = copy.copy(self)
        for name, part in bound.items():
            object.__setattr__(cloned, name, part)
        # A bound converter keeps bindings of its own, should it be bound again.
        object.__setattr__(cloned, "_bindings", {})
        return cloned


def context_bound(base: DataConverter, **changes: Any) -> ContextBoundDataConverter:
    """`base` with `changes` (as `dataclasses.replace` takes them), as a `ContextBoundDataConverter`."""
    fields = {field.name: getattr(base, field.name) for field in dataclasses.fields(base) if field.init}
    return ContextBoundDataConverter(**{**fields, **changes})
