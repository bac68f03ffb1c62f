"""The search-index API under ``/api/v1/language/indexes``.

- ``POST /api/v1/language/indexes`` ``{"agency_id", "name", "title"?, "description"?, "visibility"?}`` → 201
  the index (``visibility``: ``agency`` | ``authenticated`` | ``public``);
- ``GET /api/v1/language/indexes`` → a page of the indexes you may search; ``GET .../{id}`` → one index;
  ``DELETE .../{id}`` → 204 (the index and its files);
- ``PUT .../{id}/documents`` ``{"documents": [{"id", "text", "metadata"?}, ...]}`` (at most 500) → ``{"added",
  "updated", "unchanged", "doc_count"}``;
- ``POST .../{id}/documents/delete`` ``{"ids": [...]}`` → ``{"removed", "missing", "doc_count"}``;
- ``POST .../{id}/search`` ``{"query", "k"?, "mode"?, "where"?}`` → ``{"results": [{"id", "score", "snippet",
  "truncated", "metadata", "bm25_rank", "dense_rank"}], ...}``.

The limits (document count, text and metadata sizes, query length, ``k``) are checked by the service, whose
422 problems name the document and the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cityai.language import index_service as svc
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep, ReadCtxDep, csrf_protect
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/language/indexes", tags=["language"])
Csrf = Annotated[None, Depends(csrf_protect)]
Scalar = str | int | float | bool | None


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    name: str = Field(max_length=63, description="lower-case ASCII, digits and '-', e.g. hoi-dap")
    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=10_000)
    visibility: Literal["agency", "authenticated", "public"] = Field(
        "agency", description="who may search: the owning agency, every signed-in user, or anyone")


@router.post("", status_code=201, responses=ERRORS)
def create(body: CreateIn, ctx: CtxDep) -> dict[str, Any]:
    """Create an agency's search index (editors of the agency)."""
    return svc.to_dict(svc.index_create(ctx, **body.model_dump()), ctx.locale)


@router.get("", responses=ERRORS)
def list_indexes(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0,
                 agency_id: int | None = None) -> dict[str, Any]:
    """The indexes you may search: public ones, shared ones and those of your agencies."""
    rows, total = svc.index_list(ctx, agency_id=agency_id, limit=limit, offset=offset)
    return offset_page(request, [svc.to_dict(s, ctx.locale) for s in rows], total, limit, offset)


@router.get("/{index_id}", responses=ERRORS)
def show(index_id: int, ctx: CtxDep) -> dict[str, Any]:
    """One search index."""
    return svc.to_dict(svc.index_show(ctx, index_id=index_id), ctx.locale)


@router.delete("/{index_id}", status_code=204, responses=ERRORS)
def delete(index_id: int, ctx: CtxDep) -> Response:
    """Delete a search index with its documents (admins of the agency)."""
    svc.index_delete(ctx, index_id=index_id)
    return Response(status_code=204)


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description=f"up to {svc.MAX_ID_CHARS} characters; an existing id is replaced")
    text: str = Field(description=f"non-empty, up to {svc.MAX_TEXT_CHARS} characters")
    metadata: dict[str, Any] | None = Field(
        None, description=f"a JSON object of at most {svc.MAX_METADATA_BYTES} bytes; searches filter on it")


class UpsertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(
        description=f"1 to {svc.MAX_DOCS_PER_CALL} documents, {svc.MAX_BATCH_CHARS} chars of text at most")


@router.put("/{index_id}/documents", responses={**ERRORS, 503: ERRORS[422]})
def upsert(index_id: int, body: UpsertIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Add or replace documents by id; unchanged ones are skipped (counts of added, updated, unchanged).

    A read unit of work: the texts are embedded before the database's write lock is taken (see
    :mod:`cityai.language.index_service`)."""
    return svc.index_upsert(ctx, index_id=index_id, documents=[d.model_dump() for d in body.documents])


class RemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(description=f"1 to {svc.MAX_DOCS_PER_CALL} document ids")


@router.post("/{index_id}/documents/delete", responses=ERRORS)
def remove(index_id: int, body: RemoveIn, ctx: CtxDep) -> dict[str, Any]:
    """Remove documents by id (the ids the index does not hold are listed in ``missing``)."""
    return svc.index_remove(ctx, index_id=index_id, ids=body.ids)


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(description=f"non-empty, up to {svc.MAX_QUERY_CHARS} characters")
    k: int = Field(10, description=f"how many results, 1 to {svc.MAX_K}")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    where: dict[str, Scalar] | None = Field(
        None, description="metadata equality filter: only documents whose metadata has every key = value")


@router.post("/{index_id}/search", responses={**ERRORS, 503: ERRORS[422]})
def search(index_id: int, body: SearchIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Search an index (hybrid BM25 + e5 by default): id, score, snippet, metadata and ranks of each hit."""
    return svc.index_search(ctx, index_id=index_id, query=body.query, k=body.k, mode=body.mode,
                            where=body.where)


__all__ = ["router"]
