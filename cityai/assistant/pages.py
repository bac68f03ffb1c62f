"""Web channels of the assistant.

- ``GET /assistant`` — the citizens' chat page (anonymous or signed in; signed-in staff may switch to the
  civil-servant mode). The page is server-rendered; ``/assistant/chat.js`` talks to the JSON API
  (``POST /api/v1/assistant/ask``, ``.../feedback``, ``GET .../conversations/{id}`` to continue after a
  reload) and renders answers with DOM text nodes only.
- ``GET /assistant/embed`` — the same chat without the site's menu, for the widget's frame; other sites may
  frame it (CSP ``frame-ancestors`` = ``CITYAI_ASSISTANT_EMBED_ORIGINS``).
- ``GET /assistant/widget.js`` — the embeddable widget: one ``<script src=".../assistant/widget.js" defer>``
  tag on an agency's site adds a button that opens ``/assistant/embed`` from CityAI's origin.
- ``GET /assistant/analytics`` — for agency staff: questions by status and day (an inline SVG chart), top and
  unanswered questions, ratings, the most cited sources, latency.
- ``GET /assistant/sources`` and ``/assistant/sources/{id}`` — the knowledge base, read-only.

Every server-rendered part calls the same service actions as the API, with the same authorization.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cityai.assistant import procedures, service
from cityai.assistant.models import SOURCE_KINDS, VISIBILITIES
from cityai.core.db import utcnow
from cityai.core.models import Agency
from cityai.web.assets import ModuleAssets
from cityai.web.deps import CtxDep, PlatformDep
from cityai.web.templating import render

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = ModuleAssets(STATIC, ('chat.js', 'widget.js', 'chat.css'))
# Short labels of the source kinds, as the chat shows them next to a citation.
KIND_LABELS = {
    "procedure": ("Thủ tục", "Procedure"),
    "law": ("Điều luật", "Law article"),
    "page": ("Trang hỏi đáp", "FAQ page"),
    "document": ("Văn bản", "Document"),
}
SAMPLE_QUESTIONS = [
    ("Đăng ký khai sinh cần giấy tờ gì?", "What documents do I need to register a birth?"),
    ("Lệ phí đăng ký kết hôn bao nhiêu?", "How much is the marriage registration fee?"),
    ("Xin giấy phép xây dựng nhà ở nộp ở đâu?", "Where do I apply for a house building permit?"),
]
STATUS_LABELS = {
    "answered": ("Đã trả lời", "Answered"),
    "clarify": ("Hỏi lại cho rõ", "Asked to clarify"),
    "not_found": ("Chưa có thông tin", "Not found"),
}
CHANGES = {
    "create": ("Tạo mới", "Created"),
    "update": ("Cập nhật", "Updated"),
    "retire": ("Ngừng dùng", "Retired"),
    "restore": ("Dùng lại", "Restored"),
}
DAY_CHOICES = (7, 30, 90)
PAGE_SIZE = 50


# ------------------------------------------------------------------ static assets


def asset_version(name: str) -> str:
    return ASSETS.version(name)


def _serve_asset(request: Request, name: str) -> Response:
    return ASSETS.response(request, name)


@router.get("/assistant/chat.js")
def chat_js(request: Request) -> Response:
    return _serve_asset(request, "chat.js")


@router.get("/assistant/widget.js")
def widget_js(request: Request) -> Response:
    return _serve_asset(request, "widget.js")


@router.get("/assistant/chat.css")
def chat_css(request: Request) -> Response:
    return _serve_asset(request, "chat.css")


# ------------------------------------------------------------------ chat


def _texts() -> dict[str, Any]:
    """The chat script's words, in the page's language (from (vi, en) pairs, like every template)."""
    from cityai.web.i18n import pick

    words = {
        "you": ("Bạn", "You"),
        "assistant": ("Trợ lý ảo", "Assistant"),
        "thinking": ("Đang tìm câu trả lời…", "Looking for the answer…"),
        "sources": ("Nguồn trích dẫn", "Sources"),
        "snippet": ("Xem trích đoạn", "Show the passage"),
        "open_url": ("Xem trên cổng dịch vụ công", "Open on the public-service portal"),
        "open_source": ("Xem nguồn", "View source"),
        "helpful_q": ("Câu trả lời có hữu ích không?", "Was this answer helpful?"),
        "helpful": ("Hữu ích", "Helpful"),
        "not_helpful": ("Chưa hữu ích", "Not helpful"),
        "thanks": ("Cảm ơn bạn đã góp ý", "Thank you for your feedback"),
        "choose": ("Chọn một trong các thủ tục:", "Choose one of the procedures:"),
        "not_found": ("Chưa có thông tin", "No information found"),
        "out_of_scope": ("Ngoài phạm vi hỗ trợ", "Outside what I can help with"),
        "clarify": ("Cần làm rõ", "Needs clarification"),
        "generated": ("Câu trả lời do mô hình ngôn ngữ diễn đạt từ nguồn trích dẫn; hãy đối chiếu nguồn.",
                      "Phrased by a language model from the cited sources; please check them."),
        "network": ("Không kết nối được với máy chủ. Vui lòng kiểm tra mạng và thử lại.",
                    "Could not reach the server. Check your connection and try again."),
        "error": ("Đã xảy ra lỗi. Vui lòng thử lại.", "Something went wrong. Please try again."),
        "mode_internal": ("Đã chuyển sang chế độ cán bộ: cuộc hội thoại mới, tra cứu cả nguồn nội bộ.",
                          "Civil-servant mode: a new conversation that also searches internal sources."),
        "mode_public": ("Đã chuyển về chế độ công dân: cuộc hội thoại mới.",
                        "Back to the public mode: a new conversation."),
        "new_started": ("Đã bắt đầu cuộc hội thoại mới.", "A new conversation has started."),
        "restored": ("Tiếp tục cuộc hội thoại trước.", "Continuing your conversation."),
    }
    out: dict[str, Any] = {k: pick(v) for k, v in words.items()}
    out["kinds"] = {k: pick(v) for k, v in KIND_LABELS.items()}
    out["sections"] = {k: pick(v) for k, v in procedures.SECTIONS.items()}
    return out


def _chat_context(platform: Any, channel: str) -> dict[str, Any]:
    return {"channel": channel, "texts": _texts(), "samples": SAMPLE_QUESTIONS,
            "max_chars": platform.settings.assistant_max_question_chars,
            "v_js": asset_version("chat.js"), "v_css": asset_version("chat.css")}


@router.get("/assistant", response_class=HTMLResponse)
def chat_page(request: Request, platform: PlatformDep) -> Response:
    return render(request, "assistant/chat.html", _chat_context(platform, "web"))


@router.get("/assistant/embed", response_class=HTMLResponse)
def embed_page(request: Request, platform: PlatformDep) -> Response:
    # read by the middleware: this page may be framed by the configured sites (CSP frame-ancestors)
    request.state.frame_ancestors = platform.settings.assistant_embed_origins
    return render(request, "assistant/embed.html", _chat_context(platform, "widget"))


# ------------------------------------------------------------------ analytics


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def day_chart(per_day: list[dict[str, Any]], days: int, today: dt.date | None = None) -> dict[str, Any]:
    """A stacked bar per day (answered, clarify, not found) over the last ``days`` days, empty days included,
    as SVG coordinates."""
    today = today or utcnow().date()
    counts = {r["day"]: r for r in per_day}
    width, height, left, bottom, top = 720, 200, 32, 22, 8
    plot_h = height - bottom - top
    n = max(days, 1)
    step = (width - left) / n
    bar_w = max(step * 0.75, 1.0)
    rows = []
    for i in range(n):
        day = today - dt.timedelta(days=n - 1 - i)
        r = counts.get(day.isoformat(), {})
        rows.append((day, {s: int(r.get(s, 0)) for s in ("answered", "clarify", "not_found")}))
    peak = max([sum(c.values()) for _d, c in rows] + [1])
    bars = []
    label_every = 1 if n <= 10 else (5 if n <= 40 else 15)
    for i, (day, c) in enumerate(rows):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        segments = []
        for status in ("answered", "clarify", "not_found"):
            h = plot_h * c[status] / peak
            if c[status]:
                y -= h
                segments.append({"status": status, "y": round(y, 2), "h": round(h, 2), "n": c[status]})
        label = day.strftime("%d/%m") if (n - 1 - i) % label_every == 0 else ""
        bars.append({"x": round(x, 2), "w": round(bar_w, 2), "day": day.isoformat(), "label": label,
                     "total": sum(c.values()), "segments": segments, "cx": round(x + bar_w / 2, 2), **c})
    return {"width": width, "height": height, "left": left, "top": top, "base": top + plot_h, "peak": peak,
            "bars": bars}


def _public_url(request: Request, settings: Any) -> str:
    """CityAI's address as other sites reach it: CITYAI_BASE_URL when set, else the one this request used."""
    if "base_url" in settings.model_fields_set:
        return settings.base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


@router.get("/assistant/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, ctx: CtxDep,
                   days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    if ctx.actor.is_anonymous:
        return _login_redirect(request)
    data = service.analytics(ctx, days=days, limit=20)  # agency staff only (403 otherwise)
    return render(request, "assistant/analytics.html", {
        "a": data, "days": days, "day_choices": DAY_CHOICES, "chart": day_chart(data["per_day"], days),
        "statuses": STATUS_LABELS, "kinds": KIND_LABELS,
        "base_url": _public_url(request, ctx.platform.settings),
        "v_css": asset_version("chat.css")})


# ------------------------------------------------------------------ knowledge base


@router.get("/assistant/sources", response_class=HTMLResponse)
def sources_page(request: Request, ctx: CtxDep, kind: Annotated[str, Query(max_length=16)] = "",
                 q: Annotated[str, Query(max_length=200)] = "",
                 offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    kind = kind if kind in SOURCE_KINDS else ""
    rows, total = service.source_list(ctx, kind=kind or None, q=q.strip() or None, limit=PAGE_SIZE,
                                      offset=offset)
    agencies = _agency_names(ctx, {s.agency_id for s in rows})
    return render(request, "assistant/sources.html", {
        "sources": rows, "total": total, "kind": kind, "q": q, "offset": offset, "page_size": PAGE_SIZE,
        "kinds": KIND_LABELS, "visibilities": VISIBILITIES, "agencies": agencies,
        "v_css": asset_version("chat.css")})


def _agency_names(ctx: Any, ids: set[int]) -> dict[int, Any]:
    out = {}
    for agency_id in ids:
        a = ctx.db.get(Agency, agency_id)
        if a is not None:
            out[agency_id] = (a.name, a.name_en or a.name)
    return out


def procedure_sections(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A procedure's sections as shown to a citizen, in the usual order, without those it does not state."""
    out = []
    for key, title in procedures.SECTIONS.items():
        if key == "overview":
            continue
        try:
            lines = procedures.section_lines(body, key)
        except (KeyError, TypeError, ValueError, AttributeError):
            lines = []
        if lines:
            out.append({"key": key, "title": title, "lines": lines})
    return out


@router.get("/assistant/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, source_id: int, ctx: CtxDep) -> Response:
    src = service.source_show(ctx, source_id=source_id)  # internal sources audited, as on the API
    versions = service.source_versions(ctx, source_id=source_id)
    body = src.body or {}
    url = body.get("url") if isinstance(body.get("url"), str) else ""
    return render(request, "assistant/source.html", {
        "src": src, "body": body, "versions": versions, "changes": CHANGES, "kinds": KIND_LABELS,
        "visibilities": VISIBILITIES,
        "sections": procedure_sections(body) if src.kind == "procedure" else [],
        "url": url if url.startswith(("https://", "http://")) else "",
        "agency": _agency_names(ctx, {src.agency_id}).get(src.agency_id), "v_css": asset_version("chat.css")})


__all__ = ["router"]
