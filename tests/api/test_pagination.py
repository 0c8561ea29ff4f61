"""The cursor every /v1 listing hands out: it continues exactly where a page ended, and nothing else passes.

Pure: no stack. The routes' use of it (envelope, bounds, tenants) is in `test_list_envelope.py`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from api.errors import ApiError
from api.pagination import PageRequest, cursor_key

KEY = cursor_key("a pepper for tests")
SCOPE = PageRequest.scope("things", "tenant-a", kind="x")
AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _page(cursor: str | None = None, limit: int = 2, key: bytes = KEY) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor, key=key)


def _refused(request: PageRequest, scope: str = SCOPE) -> None:
    with pytest.raises(ApiError) as caught:
        request.after(scope, datetime, str)
    assert (caught.value.status, caught.value.code) == (400, "invalid_cursor")


def test_a_cursor_round_trips_its_position_with_types() -> None:
    cursor = _page().encode(SCOPE, (AT, "id-7"))
    assert _page(cursor).after(SCOPE, datetime, str) == (AT, "id-7")
    assert _page().after(SCOPE, datetime, str) is None


def test_an_edited_cursor_is_refused() -> None:
    cursor = _page().encode(SCOPE, (AT, "id-7"))
    payload, signature = cursor.split(".")
    forged = base64.urlsafe_b64encode(json.dumps([AT.isoformat(), "id-0"]).encode()).decode().rstrip("=")
    for bad in (
        f"{forged}.{signature}",
        f"{payload}.{signature[:-2]}AA",
        payload,
        "",
        ".",
        "not-a-cursor",
        "%00",
        "x" * 5000,
        f"{payload}.{signature}.{signature}",
    ):
        _refused(_page(bad))


def test_a_cursor_is_bound_to_its_listing_tenant_filters_and_key() -> None:
    cursor = _page().encode(SCOPE, (AT, "id-7"))
    _refused(_page(cursor), PageRequest.scope("other-things", "tenant-a", kind="x"))
    _refused(_page(cursor), PageRequest.scope("things", "tenant-b", kind="x"))
    _refused(_page(cursor), PageRequest.scope("things", "tenant-a", kind="y"))
    _refused(_page(cursor, key=cursor_key("another pepper")))


def test_a_validly_signed_position_of_the_wrong_shape_is_refused() -> None:
    cursor = _page().encode(SCOPE, ("not a time", "id-7"))
    _refused(_page(cursor))
    naive = _page().encode(SCOPE, (AT.replace(tzinfo=None), "id-7"))
    _refused(_page(naive))
    short = _page().encode(SCOPE, ("id-7",))
    _refused(_page(short))
    with pytest.raises(ApiError):
        _page(_page().encode(SCOPE, (True,))).after(SCOPE, int)


def test_pages_of_rows_fetched_one_past_the_limit() -> None:
    rows = [(AT - timedelta(seconds=i), f"id-{i}") for i in range(3)]
    first = _page(limit=2).of(rows, SCOPE, key=lambda r: r)
    assert first.items == rows[:2] and first.next_cursor is not None
    assert _page(first.next_cursor).after(SCOPE, datetime, str) == rows[1]
    last = _page(limit=2).of(rows[2:], SCOPE, key=lambda r: r)
    assert last.items == rows[2:] and last.next_cursor is None
    assert _page(limit=2).of([], SCOPE, key=lambda r: r).model_dump() == {"items": [], "next_cursor": None}


def test_a_listing_in_memory_pages_through_everything_once() -> None:
    names = [f"tool-{i:02d}" for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = _page(cursor, limit=3).slice(reversed(names), SCOPE, key=lambda n: (n,), kinds=(str,))
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == names
    versions = [1, 3, 2]
    newest_first = _page(limit=2).slice(versions, SCOPE, key=lambda v: (-v,), kinds=(int,))
    assert newest_first.items == [3, 2]
    rest = _page(newest_first.next_cursor, limit=2).slice(versions, SCOPE, key=lambda v: (-v,), kinds=(int,))
    assert (rest.items, rest.next_cursor) == ([1], None)
