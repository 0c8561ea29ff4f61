"""One shape for every /v1 listing: `{"items": [...], "next_cursor": "..." | null}`, with `?limit=` and `?cursor=`.

A cursor holds the sort key of the last item a page showed, so the next page starts after it (keyset paging:
rows added or removed meanwhile neither repeat nor skip anything). It is signed with a key derived from the API
key pepper, which every gateway replica shares, over the listing's scope as well as the position: the listing's
name, the caller's tenant and the request's filters. An edited cursor, one from another listing or tenant, or
one carried over to other filters is therefore a 400 `invalid_cursor`, never a query on values the client
made up. The position is readable base64 JSON: it is not a secret, only not the client's to write.

    async def list_things(principal: ..., page: PageDep, kind: str | None = None) -> Page[ThingOut]:
        scope = page.scope("things", principal.tenant_id, kind=kind)
        after = page.after(scope, datetime, str)          # None on the first page
        rows = ...  # at most page.limit + 1 rows after `after`, in the listing's order
        return page.of(rows, scope, key=lambda row: (row.created_at, row.id))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR_CHARS = 1024
_SIGNATURE_BYTES = 16
_KEY_LABEL = b"aiaas/v1/list-cursor"

# What a sort key may hold: plain JSON scalars, and datetimes (as ISO 8601 strings on the wire).
KeyPart = str | int | datetime
SortKey = tuple[KeyPart, ...]
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next page; null on the last page")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid() -> ApiError:
    return ApiError(400, "invalid_cursor", "the cursor is not one this listing handed out for these filters")


def _wire(part: KeyPart) -> str | int:
    return part.isoformat() if isinstance(part, datetime) else part


def _parse(value: object, kind: type) -> KeyPart:
    # bool is an int to Python; a position never holds one, so it cannot stand in for a number.
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind is datetime and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            return parsed
    raise ValueError("unexpected position")


@dataclass(frozen=True)
class PageRequest:
    """The page a request asked for: how many items, and after which position."""

    limit: int
    cursor: str | None
    key: bytes

    @staticmethod
    def scope(listing: str, tenant_id: str | None, **filters: object) -> str:
        """What a cursor is valid for: the listing, the tenant (None for platform listings), the filters."""
        return json.dumps([listing, tenant_id, filters], sort_keys=True, default=str, separators=(",", ":"))

    def _sign(self, scope: str, payload: str) -> bytes:
        return hmac.new(self.key, f"{scope}\n{payload}".encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, scope: str, position: SortKey) -> str:
        payload = _b64(json.dumps([_wire(part) for part in position], separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._sign(scope, payload))}"

    def after(self, scope: str, *kinds: type) -> tuple[Any, ...] | None:
        """The position the cursor names, its parts of the types `kinds`; None without a cursor."""
        if self.cursor is None:
            return None
        payload, dot, signature = self.cursor.partition(".")
        if not dot or len(self.cursor) > MAX_CURSOR_CHARS:
            raise _invalid()
        try:
            valid = hmac.compare_digest(_unb64(signature), self._sign(scope, payload))
            values = json.loads(_unb64(payload)) if valid else None
            if not isinstance(values, list) or len(values) != len(kinds):
                raise ValueError("wrong shape")
            return tuple(_parse(value, kind) for value, kind in zip(values, kinds, strict=True))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise _invalid() from None

    def of(self, rows: Sequence[T], scope: str, *, key: Callable[[T], SortKey]) -> Page[T]:
        """A page from up to `limit + 1` rows fetched after the position: the extra row says there is more."""
        shown = list(rows[: self.limit])
        more = len(rows) > self.limit and bool(shown)
        return Page(items=shown, next_cursor=self.encode(scope, key(shown[-1])) if more else None)

    def slice(self, items: Iterable[T], scope: str, *, key: Callable[[T], SortKey], kinds: tuple[type, ...]) -> Page[T]:
        """The page of a listing held in memory, ordered by `key` (ascending; negate a number to descend)."""
        position = self.after(scope, *kinds)
        ordered = sorted(items, key=key)
        if position is not None:
            ordered = [item for item in ordered if key(item) > position]
        return self.of(ordered[: self.limit + 1], scope, key=key)


def cursor_key(pepper: str) -> bytes:
    """The signing key, derived so that a cursor's signature reveals nothing usable about the pepper."""
    return hmac.new(pepper.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _page_request(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(description="the `next_cursor` of the page before; opaque, valid for the same filters")
    ] = None,
) -> PageRequest:
    settings = request.app.state.gateway.settings
    return PageRequest(limit=limit, cursor=cursor, key=cursor_key(settings.api_key_pepper.get_secret_value()))


PageDep = Annotated[PageRequest, Depends(_page_request)]
