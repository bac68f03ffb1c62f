"""The assistant's API under ``/api/v1/assistant``.

- ``POST /ask`` ``{"question", "conversation_id"?, "mode"?: "public" | "internal"}`` → ``{"status":
  "answered" | "clarify" | "not_found", "answer", "citations": [{"source_type", "source_id", "title",
  "snippet", "section"?}], "confidence", "conversation_id", "message_id", "reason"?, "options"?,
  "procedure"?, "generation"?}``;
- ``GET /conversations/{id}`` — one's own conversation; ``POST /conversations/{id}/feedback``
  ``{"message_id", "rating": 1 | -1, "comment"?}``;
- ``GET /analytics?days=30`` — for agency staff;
- ``GET /sources`` (``kind``, ``agency_id``, ``q``), ``GET /sources/{id}``, ``GET /sources/{id}/versions``,
  ``POST /sources/{id}/retire`` and ``/restore``; ``POST /sources/import`` ``{"agency_id", "kind":
  "procedure" | "law", "records": [...]}``; ``PUT /pages/{slug}`` ``{"agency_id", "question", "answer",
  "visibility"?}``; ``POST /documents`` ``{"agency_id", "document_id", "visibility"?}``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from cityai.assistant import service as svc
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep, client_ip
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/assistant", tags=["assistant"])


def _client(request: Request, ctx: Any) -> str:
    return svc.client_key(ctx, client_ip(request))


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="the question, up to CITYAI_ASSISTANT_MAX_QUESTION_CHARS characters")
    conversation_id: str | None = Field(None, max_length=64, description="continue a conversation")
    mode: Literal["public", "internal"] = Field(
        "public", description="internal: civil-servant mode (signed in), also searches your agencies' documents")
    channel: Literal["api", "web", "widget"] = "api"


@router.post("/ask", responses={**ERRORS, 429: ERRORS[422]})
def ask(body: AskIn, request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Ask the assistant; the answer cites the procedure sections, law articles or pages it comes from."""
    return svc.ask(ctx, question=body.question, conversation_id=body.conversation_id, mode=body.mode,
                   channel=body.channel, client=_client(request, ctx))


@router.get("/conversations/{conversation_id}", responses=ERRORS)
def conversation(conversation_id: str, request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Your own conversation (questions with personal data redacted, answers)."""
    return svc.conversation_show(ctx, conversation_id=conversation_id, client=_client(request, ctx))


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: int
    rating: Literal[1, -1] = Field(description="1 helpful, -1 not helpful")
    comment: str | None = Field(None, max_length=svc.MAX_COMMENT_CHARS)


@router.post("/conversations/{conversation_id}/feedback", responses=ERRORS)
def feedback(conversation_id: str, body: FeedbackIn, request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Rate an answer of your conversation."""
    return svc.feedback(ctx, conversation_id=conversation_id, message_id=body.message_id, rating=body.rating,
                        comment=body.comment, client=_client(request, ctx))


@router.get("/analytics", responses=ERRORS)
def analytics(ctx: CtxDep, days: int = 30, limit: int = 20) -> dict[str, Any]:
    """Top questions, unanswered questions, ratings, statuses per day and the most cited sources."""
    return svc.analytics(ctx, days=days, limit=limit)


@router.get("/sources", responses=ERRORS)
def sources(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0, kind: str | None = None,
            agency_id: int | None = None, q: str | None = None) -> dict[str, Any]:
    """The knowledge base's sources you may read."""
    rows, total = svc.source_list(ctx, kind=kind, agency_id=agency_id, q=q, limit=limit, offset=offset)
    return offset_page(request, [svc.source_to_dict(s, full=False) for s in rows], total, limit, offset)


@router.get("/sources/{source_id}", responses=ERRORS)
def source(source_id: int, ctx: CtxDep) -> dict[str, Any]:
    return svc.source_to_dict(svc.source_show(ctx, source_id=source_id))


@router.get("/sources/{source_id}/versions", responses=ERRORS)
def source_versions(source_id: int, ctx: CtxDep) -> dict[str, Any]:
    return {"items": [svc.version_to_dict(v) for v in svc.source_versions(ctx, source_id=source_id)]}


@router.post("/sources/{source_id}/retire", responses=ERRORS)
def retire(source_id: int, ctx: CtxDep) -> dict[str, Any]:
    """Stop quoting a source (kept, with its versions)."""
    return svc.source_to_dict(svc.source_set_active(ctx, source_id=source_id, active=False), full=False)


@router.post("/sources/{source_id}/restore", responses=ERRORS)
def restore(source_id: int, ctx: CtxDep) -> dict[str, Any]:
    return svc.source_to_dict(svc.source_set_active(ctx, source_id=source_id, active=True), full=False)


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    kind: Literal["procedure", "law"]
    records: list[dict[str, Any]] = Field(description=f"1 to {svc.MAX_IMPORT_PER_CALL} records")
    visibility: Literal["public", "internal"] = "public"
    origin: str | None = Field(None, max_length=500)


@router.post("/sources/import", responses=ERRORS)
def import_sources(body: ImportIn, ctx: CtxDep) -> dict[str, Any]:
    """Import procedures (national portal or CityAI records) or law articles ``{law, article, text}``."""
    return svc.import_sources(ctx, **body.model_dump())


class PageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    question: str = Field(max_length=1000)
    answer: str = Field(max_length=svc.MAX_PAGE_CHARS)
    visibility: Literal["public", "internal"] = "public"


@router.put("/pages/{slug}", responses=ERRORS)
def page_put(slug: str, body: PageIn, ctx: CtxDep) -> dict[str, Any]:
    """Write or change an agency's FAQ page."""
    src, change = svc.page_put(ctx, slug=slug, **body.model_dump())
    return {**svc.source_to_dict(src), "change": change}


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    document_id: str = Field(max_length=64)
    visibility: Literal["public", "internal"] = "internal"


@router.post("/documents", status_code=201, responses=ERRORS)
def document_add(body: DocumentIn, ctx: CtxDep) -> dict[str, Any]:
    """Take a processed document you may read into the knowledge base (internal by default)."""
    return svc.source_to_dict(svc.document_add(ctx, **body.model_dump()), full=False)


__all__ = ["router"]
