"""`/console/knowledge/search`: try a question against the tenant's collections and read the chunks an agent
would be given, each cited by document, page and heading with its score.

The search is the API's `POST /v1/knowledge/search` function (`conversations:read`), with its filters: the
collections to search (all when none is chosen), the visibility groups to search as (what an agent searches
as for a customer in those groups), the mode and how many chunks. The question goes in a POST form, with the
session's CSRF token, so it stays out of the address bar, the history and access logs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Response
from pydantic import ValidationError

from api.errors import ApiError
from api.knowledge_schemas import SearchIn, SearchOut, parse_groups
from api.routes.knowledge import Reader, list_collections
from api.routes.knowledge_search import search
from console.pages.conversations import page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

Mode = Literal["hybrid", "vector", "text"]


async def _page(
    viewer: Viewer,
    asked: dict[str, Any],
    results: SearchOut | None = None,
    error: ApiError | None = None,
) -> Response:
    principal = await viewer.check(Reader)
    collections = await list_collections(principal, viewer.state.db, page_request(viewer, None, 200))
    names = {c.id: c.name for c in collections.items}
    return render(
        viewer,
        viewer.request,
        "knowledge_search.html",
        error.status if error else 200,
        collections=collections.items,
        names=names,
        asked=asked,
        results=results,
        error=error,
    )


@router.get("/knowledge/search")
async def search_form(viewer: ViewerDep) -> Response:
    return await _page(viewer, {"query": "", "collection_ids": [], "groups": "", "mode": "hybrid", "top_k": 5})


@router.post("/knowledge/search")
async def try_search(
    viewer: CsrfViewerDep,
    query: Annotated[str, Form(max_length=4000)] = "",
    collection_ids: Annotated[list[str] | None, Form(max_length=20)] = None,
    groups: Annotated[str, Form(max_length=4000)] = "",
    mode: Annotated[Mode, Form()] = "hybrid",
    top_k: Annotated[int, Form(ge=1, le=50)] = 5,
) -> Response:
    principal = await viewer.check(Reader)
    chosen = [c for c in collection_ids or [] if c]
    asked = {"query": query, "collection_ids": chosen, "groups": groups, "mode": mode, "top_k": top_k}
    try:
        body = SearchIn(query=query.strip(), collection_ids=chosen, groups=parse_groups(groups), mode=mode, top_k=top_k)  # type: ignore[arg-type]
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e.get("loc", ["?"])[0]) for e in exc.errors()}))
        return await _page(viewer, asked, error=ApiError(422, "invalid_request", f"invalid value for: {fields}"))
    except ApiError as exc:
        return await _page(viewer, asked, error=exc)
    results = await search(body, principal, viewer.state.db)
    return await _page(viewer, asked, results=results)
