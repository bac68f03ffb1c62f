"""Web pages of the documents module: the archive (search, upload) and the document page.

The document page shows the page image beside the extracted fields with their confidence; a reviewer
corrects fields in place (the corrections are kept as training data). Pages call the same service
actions as the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from cityai.core import jobs, pii
from cityai.core.models import Agency
from cityai.documents import service
from cityai.web.deps import CtxDep
from cityai.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 20
TEXT_FIELDS = ("doc_type", "doc_type_code", "number", "symbol", "issuer", "parent_issuer", "place", "issued_date",
               "title", "urgency", "secrecy")
LABELS = {
    "doc_type": ("Loại văn bản", "Document type"), "doc_type_code": ("Mã loại", "Type code"),
    "number": ("Số", "Number"), "symbol": ("Ký hiệu", "Symbol"), "issuer": ("Cơ quan ban hành", "Issuer"),
    "parent_issuer": ("Cơ quan chủ quản", "Parent agency"), "place": ("Địa danh", "Place"),
    "issued_date": ("Ngày ban hành", "Date"), "title": ("Trích yếu", "Subject"),
    "urgency": ("Độ khẩn", "Urgency"), "secrecy": ("Độ mật", "Secrecy"),
}


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


@router.get("/documents", response_class=HTMLResponse)
def archive(request: Request, ctx: CtxDep, q: Annotated[str | None, Query(max_length=500)] = None,
            doc_type_code: Annotated[str | None, Query(max_length=16)] = None,
            offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    if ctx.actor.is_anonymous:
        return _login(request)
    rows, total = service.document_search(ctx, q=q or None, plain_accents=True, doc_type_code=doc_type_code or None,
                                          limit=PAGE, offset=offset)
    agencies = [a for a in ctx.db.execute(select(Agency).order_by(Agency.name)).scalars()
                if ctx.has_role(a.id, "member")]
    return render(request, "documents/archive.html", {
        "docs": [service.to_dict(d, ctx.locale) for d in rows], "total": total, "q": q or "",
        "doc_type_code": doc_type_code or "", "offset": offset, "page": PAGE, "agencies": agencies})


@router.post("/documents")
def upload(request: Request, ctx: CtxDep, file: Annotated[UploadFile, File()],
           agency_id: Annotated[int | None, Form()] = None) -> Response:
    docs = service.document_upload(ctx, stream=file.file, filename=file.filename or "document", agency_id=agency_id)
    if len(docs) == 1:
        return RedirectResponse(f"/documents/{docs[0].id}", status_code=303)
    return RedirectResponse("/documents?batch=" + docs[0].batch_id, status_code=303)


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def document_page(request: Request, document_id: str, ctx: CtxDep,
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    if ctx.actor.is_anonymous:
        return _login(request)
    doc = service.document_show(ctx, document_id=document_id)
    data = service.to_dict(doc, ctx.locale)
    pages = service.document_pages(ctx, document_id=doc.id) if doc.status == "ready" else []
    current = next((p for p in pages if p.number == page), pages[0] if pages else None)
    job = jobs.to_dict(jobs.show.unchecked(ctx, job_id=doc.job_id), ctx.locale) \
        if doc.job_id and doc.status in ("pending", "processing") else None
    conf = data["field_confidence"]
    return render(request, "documents/document.html", {
        "doc": data, "pages": pages, "current": current, "job": job, "labels": LABELS, "fields": TEXT_FIELDS,
        "conf": conf, "corrected": set(data["corrected"]), "pii_kinds": pii.KINDS})


@router.get("/documents/{document_id}/progress", response_class=HTMLResponse)
def progress(request: Request, document_id: str, ctx: CtxDep) -> Response:
    """The processing progress (htmx polls it; a finished document reloads the page)."""
    doc = service.document_show(ctx, document_id=document_id)
    if doc.status not in ("pending", "processing"):
        return Response(status_code=200, headers={"HX-Refresh": "true"})  # htmx reloads the finished page
    job = jobs.to_dict(jobs.show.unchecked(ctx, job_id=doc.job_id), ctx.locale) if doc.job_id else None
    return render(request, "documents/_progress.html", {"doc": service.to_dict(doc, ctx.locale), "job": job})


@router.post("/documents/{document_id}/fields")
async def correct(request: Request, document_id: str, ctx: CtxDep) -> Response:
    """Corrections from the document page (fields ``f__<name>``; lists one item a line)."""
    form = await request.form()
    doc = service.document_show(ctx, document_id=document_id)
    current = service.to_dict(doc)
    changes: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        key = f"f__{name}"
        if key in form:
            value = str(form[key]).strip() or None
            if value != (current.get(name) if not isinstance(current.get(name), dict) else None):
                if not (name == "issued_date" and isinstance(current.get(name), dict) and value is None):
                    changes[name] = value
    for name in ("legal_bases", "recipients"):
        key = f"f__{name}"
        if key in form:
            items = [line.strip() for line in str(form[key]).splitlines() if line.strip()]
            if items != current.get(name):
                changes[name] = items
    if changes:
        service.document_correct(ctx, document_id=document_id, changes=changes)
    return RedirectResponse(f"/documents/{document_id}?saved=1", status_code=303)


# ------------------------------------------------------------------ classifiers
# (a router of its own, included before ``router``: /documents/classifiers is not a document id)

classifier_router = APIRouter(include_in_schema=False)



@classifier_router.get("/documents/classifiers", response_class=HTMLResponse)
def classifiers_page(request: Request, ctx: CtxDep) -> Response:
    """The agency's classifiers with their evaluation summary; a form to train one."""
    from cityai.documents import classify

    if ctx.actor.is_anonymous:
        return _login(request)
    rows, _total = classify.classifier_list(ctx, limit=100)
    agencies = [a for a in ctx.db.execute(select(Agency).order_by(Agency.name)).scalars()
                if ctx.has_role(a.id, "editor")]
    return render(request, "documents/classifiers.html", {
        "classifiers": [classify.to_dict(c, ctx.locale, report=False) for c in rows], "agencies": agencies})


@classifier_router.post("/documents/classifiers")
def classifiers_train(request: Request, ctx: CtxDep, agency_id: Annotated[int, Form()],
                      name: Annotated[str, Form(max_length=63)],
                      corpus: Annotated[str, Form(max_length=32)] = "",
                      use_documents: Annotated[str, Form(max_length=8)] = "") -> Response:
    from cityai.documents import classify

    c = classify.classifier_train(ctx, agency_id=agency_id, name=name, corpus=corpus or None,
                                  use_documents=bool(use_documents))
    return RedirectResponse(f"/documents/classifiers/{c.id}", status_code=303)


@classifier_router.get("/documents/classifiers/{classifier_id}", response_class=HTMLResponse)
def classifier_page(request: Request, classifier_id: int, ctx: CtxDep) -> Response:
    """One classifier's evaluation report: per-class precision/recall/F1 and the confusion matrix."""
    from cityai.documents import classify

    if ctx.actor.is_anonymous:
        return _login(request)
    c = classify.to_dict(classify.classifier_show(ctx, classifier_id=classifier_id), ctx.locale)
    job = jobs.to_dict(jobs.show.unchecked(ctx, job_id=c["job_id"]), ctx.locale) \
        if c["job_id"] and c["status"] == "training" else None
    cm = (c.get("metrics") or {}).get("confusion_matrix") or {}
    matrix = cm.get("matrix") or []
    cells = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        cells.append([{"n": n, "share": n / total, "diag": i == j} for j, n in enumerate(row)])
    return render(request, "documents/classifier.html", {"c": c, "job": job, "labels": cm.get("labels") or [],
                                                          "cells": cells})
