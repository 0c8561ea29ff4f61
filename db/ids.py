"""Row ids the application assigns itself.

Ids are made in Python rather than by a column default so that a caller knows a row's id before the
INSERT runs: it can name the row in the same transaction (an audit event, a child row) without a round trip.
"""

from __future__ import annotations

from uuid import uuid4


def new_id() -> str:
    """A random UUID in canonical text form, the shape every tenant id and row id has."""
    return str(uuid4())
