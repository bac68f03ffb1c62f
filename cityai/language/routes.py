"""The language API (``/api/v1/language``): the contract outside checks use.

- ``POST /segment`` ``{"text"}`` → ``{"tokens": [...]}`` (one string per word, syllables joined by
  spaces), ``"pos": true`` adds ``"tags"``; ``{"texts": [...]}`` → ``{"results": [{"tokens"}...]}``.
- ``POST /ner`` ``{"text"}`` → ``{"entities": [{"text", "label", "start", "end"}]}``; batch ``texts``.
- ``POST /summarize`` ``{"text", "max_sentences"}`` → ``{"sentences": [...]}``.
- ``POST /digest`` ``{"documents": [{"id", "title", "text"}], "max_sentences"}`` → sentences with sources.
- ``POST /embed`` ``{"texts", "kind": "query"|"passage"}`` → ``{"vectors": [[...]]}``.
- ``POST /normalize`` ``{"text"}`` → ``{"text", "sentences"}``; ``GET /models``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from cityai.language import service
from cityai.web.api import ERRORS
from cityai.web.deps import ReadCtxDep, csrf_protect

router = APIRouter(prefix="/api/v1/language", tags=["language"])
Csrf = Annotated[None, Depends(csrf_protect)]


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="the text (UTF-8; at most CITYAI_LANGUAGE_MAX_TEXT_BYTES)")
    texts: list[str] | None = Field(None, description="batch form: several texts")


class SegmentIn(TextIn):
    pos: bool = Field(False, description="also return POS tags, parallel to tokens")


class SummarizeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    max_sentences: int | None = Field(3, description="1-100")
    method: Literal["textrank", "centroid"] = "textrank"


class DocIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | int | None = None
    title: str | None = None
    text: str


class DigestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocIn] = Field(min_length=1, max_length=200)
    max_sentences: int | None = 5


class EmbedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(max_length=1000)
    kind: Literal["query", "passage"] = "passage"


@router.post("/normalize", responses=ERRORS)
def normalize(body: TextIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Normalized text (NFC, tone marks, lookalikes, spaces) and its sentences with offsets."""
    return service.language_normalize(ctx, text=body.text)


@router.post("/segment", responses=ERRORS)
def segment(body: SegmentIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Word segmentation (and POS tags with ``pos: true``)."""
    return service.language_segment(ctx, text=body.text, texts=body.texts, pos=body.pos)


@router.post("/ner", responses=ERRORS)
def ner(body: TextIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Named entities with character offsets into the text."""
    return service.language_ner(ctx, text=body.text, texts=body.texts)


@router.post("/summarize", responses=ERRORS)
def summarize(body: SummarizeIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Extractive summary of at most ``max_sentences`` sentences, in document order."""
    return service.language_summarize(ctx, text=body.text, max_sentences=body.max_sentences, method=body.method)


@router.post("/digest", responses=ERRORS)
def digest(body: DigestIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """A digest of several documents; each sentence says which document it came from."""
    return service.language_digest(ctx, documents=[d.model_dump() for d in body.documents],
                                   max_sentences=body.max_sentences)


@router.post("/embed", responses=ERRORS)
def embed(body: EmbedIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Embeddings (384 dimensions, L2-normalized) of query or passage texts."""
    return service.language_embed(ctx, texts=body.texts, kind=body.kind)


@router.get("/models", responses=ERRORS)
def models(ctx: ReadCtxDep) -> dict[str, Any]:
    """Which model serves each analysis, where it came from and how it scored."""
    return service.language_models(ctx)
