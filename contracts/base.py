"""The one base of every contract model: immutable, and strict about fields it does not know.

Frozen because a workflow must not change a value an activity or the history also holds; `extra="forbid"`
so a misspelt field is an error at the boundary instead of a silently dropped value.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
