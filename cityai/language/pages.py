"""The language playground (``/language``): paste a text and see its normalization, sentences, words
with POS tags, entities highlighted in place, a classification by a published classifier and a summary.
Server-rendered (works without JavaScript); every part calls the same service actions as the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from cityai.core.errors import Problem
from cityai.language import service
from cityai.web.deps import CtxDep, ReadCtxDep
from cityai.web.templating import render

router = APIRouter(include_in_schema=False)
SAMPLE = ("Ngày 15/3/2025, Ủy ban nhân dân Thành phố Hồ Chí Minh ban hành Kế hoạch số 140/KH-UBND về chuyển đổi số. "
          "Theo kế hoạch, Sở Khoa học và Công nghệ chủ trì, phối hợp với UBND phường Bến Thành triển khai thí điểm "
          "trợ lý ảo cho người dân. Ông Nguyễn Văn An, Giám đốc Sở, cho biết hệ thống sẽ hoạt động từ tháng 6. "
          "Kinh phí thực hiện lấy từ ngân sách thành phố theo Nghị định 30/2020/NĐ-CP.")
MAX_FORM_CHARS = 200_000


def highlight(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text cut into plain runs and entity runs (for ``<mark>``), entities in order, no overlaps."""
    parts: list[dict[str, Any]] = []
    pos = 0
    for e in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if e["start"] < pos:
            continue
        if e["start"] > pos:
            parts.append({"text": text[pos:e["start"]]})
        parts.append({"text": text[e["start"]:e["end"]], "label": e["label"]})
        pos = e["end"]
    if pos < len(text):
        parts.append({"text": text[pos:]})
    return parts


def _classifiers(ctx: Any) -> list[dict[str, Any]]:
    try:
        from cityai.language import classifier_service
    except ImportError:  # pragma: no cover - the classifier service is part of the module
        return []
    return classifier_service.playground_classifiers(ctx)


@router.get("/language", response_class=HTMLResponse)
def playground(request: Request, ctx: ReadCtxDep) -> Response:
    return render(request, "language/playground.html", {"text": SAMPLE, "result": None,
                                                         "classifiers": _classifiers(ctx),
                                                         "models": service.language_models(ctx)["models"]})


@router.post("/language", response_class=HTMLResponse)
def analyse(request: Request, ctx: CtxDep, text: Annotated[str, Form(max_length=MAX_FORM_CHARS)] = "",
            max_sentences: Annotated[int, Form(ge=1, le=20)] = 3,
            classifier_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    error = None
    result: dict[str, Any] | None = None
    try:
        result = service.analyse_all(ctx, text, max_sentences=max_sentences)
        result["parts"] = highlight(text, result["ner"]["entities"])
        seg = result["segment"]
        result["words"] = list(zip(seg["tokens"], seg.get("tags") or [""] * len(seg["tokens"])))
        if classifier_id.isdigit() and text.strip():
            from cityai.language import classifier_service

            result["classification"] = classifier_service.playground_predict(ctx, int(classifier_id), text)
    except Problem as p:
        error = p.detail
    return render(request, "language/playground.html", {
        "text": text, "result": result, "error": error, "max_sentences": max_sentences,
        "classifiers": _classifiers(ctx), "classifier_id": classifier_id,
        "models": service.language_models(ctx)["models"]}, status_code=200 if error is None else 422)
