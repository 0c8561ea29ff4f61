"""The embedded dev stack (Temporal, Postgres + pgvector, Redis) and `aiaas up`.

Exports load on first use, so that registering the `up` subcommand does not import the clients.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.stack.ports import ensure_port_free, free_port
    from core.stack.process import ManagedProcess
    from core.stack.stack import Stack, StackEndpoints

_EXPORTS = {
    "Stack": "core.stack.stack",
    "StackEndpoints": "core.stack.stack",
    "ManagedProcess": "core.stack.process",
    "free_port": "core.stack.ports",
    "ensure_port_free": "core.stack.ports",
}

__all__ = ["ManagedProcess", "Stack", "StackEndpoints", "ensure_port_free", "free_port"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
