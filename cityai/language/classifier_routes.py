"""The text-classifier API under ``/api/v1/language/classifiers`` (and its web page).

- ``POST /api/v1/language/classifiers`` ``{"agency_id", "name", "title"?, "description"?, "labels"?,
  "visibility"?}`` → 201 the classifier;
- ``GET /api/v1/language/classifiers`` → a page of classifiers; ``GET .../{id}`` → the classifier, its
  versions and the published version's report; ``DELETE .../{id}`` → 204;
- ``POST .../{id}/train/csv`` (multipart: ``file``, optional ``text_column``, ``label_column``,
  ``candidates`` comma-separated, ``auto_publish``) and ``POST .../{id}/train/dataset`` ``{"resource_id",
  "text_column"?, "label_column"?, "table"?, "candidates"?, "auto_publish"?}`` → 202 the new version
  (``job_id``: poll ``GET /api/v1/jobs/{job_id}`` or the version);
- ``GET .../{id}/versions`` and ``GET .../{id}/versions/{version}`` (with the report: per-class precision,
  recall, F1, support, accuracy, macro-F1, confusion matrix, every candidate's CV score);
- ``POST .../{id}/versions/{version}/publish`` → the classifier;
- ``POST .../{id}/predict`` ``{"texts": [...], "version"?}`` → ``{"predictions": [{"label", "confidence",
  "probabilities": {label: p}}], "version", ...}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cityai.language import classifier_service as svc
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep, ReadCtxDep, csrf_protect
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/language/classifiers", tags=["language"])
pages_router = APIRouter(include_in_schema=False)
Csrf = Annotated[None, Depends(csrf_protect)]
MAX_TEXT = svc.MAX_TEXT_CHARS
Candidate = Literal["tfidf", "embed", "tfidf+embed"]


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    name: str = Field(max_length=63, description="lower-case ASCII, digits and '-', e.g. phan-loai-phan-anh")
    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=10_000)
    labels: list[str] | None = Field(None, max_length=200, description="the labels it may use (optional)")
    visibility: Literal["agency", "authenticated"] = Field(
        "agency", description="who may predict: the owning agency, or every signed-in user")


@router.post("", status_code=201, responses=ERRORS)
def create(body: CreateIn, ctx: CtxDep) -> dict[str, Any]:
    """Create an agency's text classifier (editors of the agency)."""
    c = svc.classifier_create(ctx, **body.model_dump())
    return svc.to_dict(c, ctx.locale, versions=[])


@router.get("", responses=ERRORS)
def list_classifiers(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0,
                     agency_id: int | None = None) -> dict[str, Any]:
    """Classifiers of the agencies you belong to, and those shared with every signed-in user."""
    rows, total = svc.classifier_list(ctx, agency_id=agency_id, limit=limit, offset=offset)
    return offset_page(request, [svc.to_dict(c, ctx.locale) for c in rows], total, limit, offset)


@router.get("/{classifier_id}", responses=ERRORS)
def show(classifier_id: int, ctx: CtxDep) -> dict[str, Any]:
    """A classifier, its versions and the published version's evaluation report."""
    c = svc.classifier_show(ctx, classifier_id=classifier_id)
    return svc.to_dict(c, ctx.locale, versions=svc.classifier_versions(ctx, classifier_id=classifier_id))


@router.delete("/{classifier_id}", status_code=204, responses=ERRORS)
def delete(classifier_id: int, ctx: CtxDep) -> Response:
    """Delete a classifier with its versions and model files (admins of the agency)."""
    svc.classifier_delete(ctx, classifier_id=classifier_id)
    return Response(status_code=204)


def _candidates(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


@router.post("/{classifier_id}/train/csv", status_code=202, responses={**ERRORS, 413: ERRORS[422]})
def train_csv(classifier_id: int, ctx: CtxDep,
              file: Annotated[UploadFile, File(description="CSV: a text column and a label column")],
              text_column: Annotated[str | None, Form(max_length=200)] = None,
              label_column: Annotated[str | None, Form(max_length=200)] = None,
              candidates: Annotated[str | None, Form(max_length=100,
                                                     description="comma-separated: tfidf,embed,tfidf+embed")] = None,
              auto_publish: Annotated[bool, Form()] = False) -> dict[str, Any]:
    """Train a new version from an uploaded CSV file (a job; the published version keeps serving)."""
    data = svc.read_stream(file.file)
    v = svc.classifier_train(ctx, classifier_id=classifier_id, csv_data=data, filename=file.filename,
                             text_column=text_column or None, label_column=label_column or None,
                             candidates=_candidates(candidates), auto_publish=auto_publish)
    return svc.version_to_dict(v, ctx.locale)


class TrainDatasetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resource_id: str = Field(max_length=64)
    text_column: str | None = Field(None, max_length=200)
    label_column: str | None = Field(None, max_length=200)
    table: str | None = Field(None, max_length=200)
    candidates: list[Candidate] | None = Field(None, min_length=1, max_length=3)
    auto_publish: bool = False


@router.post("/{classifier_id}/train/dataset", status_code=202, responses=ERRORS)
def train_dataset(classifier_id: int, body: TrainDatasetIn, ctx: CtxDep) -> dict[str, Any]:
    """Train a new version from a catalog resource's table (read with your own permissions)."""
    v = svc.classifier_train(ctx, classifier_id=classifier_id, resource_id=body.resource_id, table=body.table,
                             text_column=body.text_column, label_column=body.label_column,
                             candidates=None if body.candidates is None else list(body.candidates),
                             auto_publish=body.auto_publish)
    return svc.version_to_dict(v, ctx.locale)


@router.get("/{classifier_id}/versions", responses=ERRORS)
def versions(classifier_id: int, ctx: CtxDep) -> dict[str, Any]:
    """Every version, newest first (summaries: status, algorithm, accuracy, macro-F1)."""
    c = svc.classifier_show(ctx, classifier_id=classifier_id)
    rows = svc.classifier_versions(ctx, classifier_id=classifier_id)
    return {"items": [svc.version_to_dict(v, ctx.locale, report=False, published=c.published_version)
                      for v in rows], "total": len(rows)}


@router.get("/{classifier_id}/versions/{version}", responses=ERRORS)
def version(classifier_id: int, version: int, ctx: CtxDep) -> dict[str, Any]:
    """One version with its evaluation report."""
    c = svc.classifier_show(ctx, classifier_id=classifier_id)
    v = svc.classifier_version(ctx, classifier_id=classifier_id, version=version)
    return svc.version_to_dict(v, ctx.locale, published=c.published_version)


@router.post("/{classifier_id}/versions/{version}/publish", responses=ERRORS)
def publish(classifier_id: int, version: int, ctx: CtxDep) -> dict[str, Any]:
    """Publish a ready version: predictions use it from now on."""
    c = svc.classifier_publish(ctx, classifier_id=classifier_id, version=version)
    return svc.to_dict(c, ctx.locale, versions=svc.classifier_versions(ctx, classifier_id=classifier_id))


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[Annotated[str, Field(max_length=MAX_TEXT)]] = Field(min_length=1, max_length=svc.MAX_PREDICT_TEXTS)
    version: int | None = Field(None, description="a ready version to use instead of the published one")


@router.post("/{classifier_id}/predict", responses=ERRORS)
def predict(classifier_id: int, body: PredictIn, ctx: ReadCtxDep, _csrf: Csrf) -> dict[str, Any]:
    """Classify texts: each prediction's label, confidence and probability of every label."""
    return svc.classifier_predict(ctx, classifier_id=classifier_id, texts=body.texts, version=body.version)


# ------------------------------------------------------------------ the web page


@pages_router.get("/language/classifiers", response_class=HTMLResponse)
def classifiers_page(request: Request, ctx: CtxDep, classifier_id: int | None = None) -> Response:
    """Classifiers with their versions; the chosen (or first) one's published report and confusion matrix."""
    from cityai.web.templating import render

    if ctx.actor.is_anonymous:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    rows, total = svc.classifier_list(ctx, limit=200)
    current = None
    if classifier_id is not None:
        c = svc.classifier_show(ctx, classifier_id=classifier_id)
        current = svc.to_dict(c, ctx.locale, versions=svc.classifier_versions(ctx, classifier_id=c.id))
    elif rows:
        current = svc.to_dict(rows[0], ctx.locale, versions=svc.classifier_versions(ctx, classifier_id=rows[0].id))
    return render(request, "language/classifiers.html", {
        "classifiers": [svc.to_dict(c, ctx.locale) for c in rows], "total": total, "current": current})


__all__ = ["pages_router", "router"]
