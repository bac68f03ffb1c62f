"""The classification API: the document type of a text, and an agency's trainable classifiers.

``router`` holds full paths (no prefix) because the type endpoint sits beside the documents, not under
``/classifiers``. Include it **before** ``cityai.documents.routes.router``: ``GET
/api/v1/documents/classifiers`` would otherwise be taken by ``GET /api/v1/documents/{document_id}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityai.core.errors import invalid
from cityai.documents import classify
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep, ReadCtxDep, csrf_protect
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(tags=["documents"])
BASE = "/api/v1/documents/classifiers"
MAX_TEXT = 2_000_000


class ClassifyTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, max_length=MAX_TEXT)
    document_id: str | None = Field(None, max_length=36)


@router.post("/api/v1/documents/classify-type", responses=ERRORS)
def classify_type(body: ClassifyTypeIn, ctx: ReadCtxDep,
                  _csrf: Annotated[None, Depends(csrf_protect)]) -> dict[str, Any]:
    """The document type (Điều 7, ND30) of a text or a stored document: ``source`` says whether the rule
    (title line, ký hiệu) or the learned model decided; ``candidates`` are the model's best guesses."""
    return classify.document_classify_type(ctx, text=body.text, document_id=body.document_id)


class ExampleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, max_length=MAX_TEXT)
    document_id: str | None = Field(None, max_length=36)
    label: str = Field(max_length=100)


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    name: str = Field(max_length=63, description="lower-case ASCII, digits and '-', e.g. linh-vuc")
    examples: list[ExampleIn] | None = Field(None, max_length=classify.MAX_EXAMPLES)
    use_documents: bool = Field(False, description="also train on the agency's documents labelled for this name")
    corpus: Literal["sectors"] | None = Field(None, description="also train on a shipped corpus (sectors)")


@router.post(BASE, status_code=202, responses=ERRORS)
def train(body: TrainIn, ctx: CtxDep) -> dict[str, Any]:
    """Train a new version of a classifier (a job: poll ``GET /api/v1/jobs/{job_id}`` or the classifier)."""
    examples = None if body.examples is None else [e.model_dump(exclude_none=True) for e in body.examples]
    c = classify.classifier_train(ctx, agency_id=body.agency_id, name=body.name, examples=examples,
                                  use_documents=body.use_documents, corpus=body.corpus)
    return classify.to_dict(c, ctx.locale)


@router.get(BASE, responses=ERRORS)
def list_classifiers(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0,
                     agency_id: int | None = None,
                     name: Annotated[str | None, Query(max_length=63)] = None) -> dict[str, Any]:
    """Classifiers (every version, newest first) of the agencies you belong to."""
    rows, total = classify.classifier_list(ctx, agency_id=agency_id, name=name, limit=limit, offset=offset)
    return offset_page(request, [classify.to_dict(c, ctx.locale, report=False) for c in rows], total, limit, offset)


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_id: str = Field(max_length=36)
    name: str = Field(max_length=63)
    label: str | None = Field(None, max_length=100, description="null removes the label")


@router.post(f"{BASE}/labels", responses=ERRORS)
def label(body: LabelIn, ctx: CtxDep) -> dict[str, Any]:
    """Label a document for a classifier name (training data for ``use_documents``)."""
    row = classify.classifier_label(ctx, document_id=body.document_id, name=body.name, label=body.label)
    if row is None:
        return {"document_id": body.document_id, "name": body.name, "label": None}
    return classify.label_to_dict(row)


@router.get(f"{BASE}/{{classifier_id}}", responses=ERRORS)
def show(classifier_id: int, ctx: CtxDep) -> dict[str, Any]:
    """One classifier version with its evaluation report (per-class precision/recall/F1, confusion matrix)."""
    return classify.to_dict(classify.classifier_show(ctx, classifier_id=classifier_id), ctx.locale)


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, max_length=MAX_TEXT)
    document_id: str | None = Field(None, max_length=36)
    agency_id: int | None = Field(None, description="with a classifier name: whose classifier")


@router.post(f"{BASE}/{{classifier}}/predict", responses=ERRORS)
def predict(classifier: str, body: PredictIn, ctx: ReadCtxDep,
            _csrf: Annotated[None, Depends(csrf_protect)]) -> dict[str, Any]:
    """Classify a text or a document: ``classifier`` is an id, or a name (its latest ready version in
    ``agency_id``, or in your agency when you belong to one)."""
    if classifier.isdigit():
        return classify.classifier_predict(ctx, classifier_id=int(classifier), text=body.text,
                                           document_id=body.document_id)
    agency_id = body.agency_id
    if agency_id is None:
        roles = list(ctx.actor.roles)
        if len(roles) != 1:
            raise invalid(("Hãy chọn cơ quan (agency_id).", "Choose the agency (agency_id)."), field="agency_id")
        agency_id = roles[0]
    return classify.classifier_predict(ctx, agency_id=agency_id, name=classifier, text=body.text,
                                       document_id=body.document_id)


__all__ = ["router"]
