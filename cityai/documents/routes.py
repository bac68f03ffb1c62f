"""The documents API under /api/v1/documents (the contract of issue 4)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from cityai.documents import service
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])


@router.post("", status_code=202, responses=ERRORS)
def upload(ctx: CtxDep, file: Annotated[UploadFile, File(description="PDF, PNG, JPEG, TIFF, DOCX or a ZIP of them")],
           agency_id: Annotated[int | None, Form()] = None) -> dict[str, Any]:
    """File a document (or a ZIP batch); each is processed by a job. Poll ``GET /api/v1/documents/{id}``."""
    docs = service.document_upload(ctx, stream=file.file, filename=file.filename or "document", agency_id=agency_id)
    first = docs[0]
    return {"id": first.id, "job_id": first.job_id, "batch_id": first.batch_id,
            "documents": [{"id": d.id, "job_id": d.job_id, "filename": d.filename} for d in docs]}


@router.get("", responses=ERRORS)
def search(request: Request, ctx: CtxDep, limit: Limit = 20, offset: Offset = 0,
           q: Annotated[str | None, Query(max_length=500)] = None, plain_accents: bool = False,
           doc_type_code: Annotated[str | None, Query(max_length=16)] = None, agency_id: int | None = None,
           issuer: Annotated[str | None, Query(max_length=200)] = None, date_from: dt.date | None = None,
           date_to: dt.date | None = None,
           status: Literal["pending", "processing", "ready", "failed"] | None = None) -> dict[str, Any]:
    """The archive: full-text search (``plain_accents`` ignores diacritics) and filters."""
    rows, total = service.document_search(ctx, q=q, plain_accents=plain_accents, doc_type_code=doc_type_code,
                                          agency_id=agency_id, issuer=issuer, date_from=date_from, date_to=date_to,
                                          status=status, limit=limit, offset=offset)
    items = []
    for d in rows:
        item = service.to_dict(d, ctx.locale)
        item.pop("text", None)
        items.append(item)
    return offset_page(request, items, total, limit, offset)


@router.get("/{document_id}", responses=ERRORS)
def show(document_id: str, ctx: CtxDep) -> dict[str, Any]:
    return service.to_dict(service.document_show(ctx, document_id=document_id), ctx.locale)


@router.get("/{document_id}/pages", responses=ERRORS)
def pages(request: Request, document_id: str, ctx: CtxDep) -> dict[str, Any]:
    rows = [service.page_to_dict(p, document_id) for p in service.document_pages(ctx, document_id=document_id)]
    return offset_page(request, rows, len(rows), max(len(rows), 1), 0)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any]


@router.patch("/{document_id}", responses=ERRORS)
def correct(document_id: str, body: CorrectionIn, ctx: CtxDep) -> dict[str, Any]:
    """Correct extracted fields (kept as training data)."""
    return service.to_dict(service.document_correct(ctx, document_id=document_id, changes=body.changes), ctx.locale)


def _stream(ctx: Any, key: str, media: str, name: str, inline: bool = False) -> Response:
    fh = ctx.platform.storage.open(key)

    def chunks():
        with fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    disposition = "inline" if inline else "attachment"
    return StreamingResponse(chunks(), media_type=media, headers={"Content-Disposition": f'{disposition}; filename="{name}"'})


@router.get("/{document_id}/redacted", responses=ERRORS, response_class=Response)
def redacted(document_id: str, ctx: CtxDep, style: Literal["label", "mask"] = "label") -> Response:
    """The text with personal data (CCCD, phone numbers, e-mail, addresses ...) redacted, as a .txt download."""
    text = service.document_redacted(ctx, document_id=document_id, style=style)
    return Response(text, media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{document_id}-redacted.txt"'})


@router.get("/{document_id}/redacted.pdf", responses=ERRORS, response_class=StreamingResponse)
def redacted_pdf(document_id: str, ctx: CtxDep,
                 kinds: Annotated[list[str] | None, Query(description="personal-data kinds to black out (default all)")]
                 = None) -> Response:
    """The pages as images with black boxes over the personal data found; no text layer is left."""
    import shutil

    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse

    path = service.document_redacted_pdf(ctx, document_id=document_id, kinds=kinds)
    return FileResponse(path, media_type="application/pdf", filename=f"{document_id}-redacted.pdf",
                        background=BackgroundTask(shutil.rmtree, path.parent, True))


@router.get("/{document_id}/pdf", responses=ERRORS, response_class=StreamingResponse)
def pdf(document_id: str, ctx: CtxDep) -> Response:
    """The searchable PDF (OCR text layer over the page images; a PDF with a sound text layer as it came)."""
    key, media, name = service.document_file(ctx, document_id=document_id, which="pdf")
    return _stream(ctx, key, media, name, inline=True)


@router.get("/{document_id}/original", responses=ERRORS, response_class=StreamingResponse)
def original(document_id: str, ctx: CtxDep) -> Response:
    key, media, name = service.document_file(ctx, document_id=document_id, which="original")
    return _stream(ctx, key, media, name)


@router.get("/{document_id}/pages/{number}/image", responses=ERRORS, response_class=StreamingResponse)
def page_image(document_id: str, number: int, ctx: CtxDep) -> Response:
    key, media, name = service.document_file(ctx, document_id=document_id, which="page", page=number)
    return _stream(ctx, key, media, name, inline=True)
