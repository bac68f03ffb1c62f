"""One page shape for every list: ``{"items", "total", "limit", "offset", "next"}``.

``next`` is the URL of the following page or null; clients follow it and never build cursors
themselves. Offset lists fill ``total`` and ``offset``; cursor lists (the audit log) leave them
null and put ``cursor=`` in ``next``.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel

T = TypeVar("T")
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-500)")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int | None = None
    limit: int
    offset: int | None = None
    next: str | None = None


def offset_page(request: Request, items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    nxt = None
    if offset + len(items) < total:
        nxt = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return {"items": items, "total": total, "limit": limit, "offset": offset, "next": nxt}


def cursor_page(request: Request, items: list[Any], limit: int, next_cursor: Any) -> dict[str, Any]:
    nxt = None
    if next_cursor is not None:
        nxt = str(request.url.include_query_params(cursor=next_cursor, limit=limit))
    return {"items": items, "total": None, "limit": limit, "offset": None, "next": nxt}
