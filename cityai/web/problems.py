"""Rendering errors as RFC 9457 problem details (API) or as an error page (web UI)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityai.core.errors import (
    T_INTERNAL,
    T_INVALID,
    T_MALFORMED,
    T_METHOD,
    T_NOT_FOUND,
    Problem,
)
from cityai.web import i18n

log = logging.getLogger("cityai.web")
PROBLEM_JSON = "application/problem+json"


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path in ("/healthz", "/readyz", "/openapi.json"):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(request: Request, problem: Problem) -> Response:
    locale = i18n.get_locale()
    body = problem.to_dict(locale, instance=request.url.path)
    rid = getattr(request.state, "request_id", None)
    if rid:
        body["request_id"] = rid
    headers = dict(problem.headers)
    if wants_html(request):
        from cityai.web.templating import render

        resp = render(request, "core/error.html", {"problem": body}, status_code=problem.status)
        resp.headers.update(headers)
        return resp
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=problem.status,
                    media_type=PROBLEM_JSON, headers=headers)


def _clean_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append({
            "loc": [str(x) for x in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        })
    return out[:50]


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(request, Problem(
                400, "malformed-body", T_MALFORMED,
                ("Nội dung JSON không đúng cú pháp.", "The request body is not valid JSON."),
                errors=_clean_errors(errors)))
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in errors[:5])
        return problem_response(request, Problem(
            422, "validation-error", T_INVALID,
            (f"Dữ liệu không hợp lệ ở: {fields}.", f"Invalid input at: {fields}."),
            errors=_clean_errors(errors)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            p = Problem(404, "not-found", T_NOT_FOUND,
                        (f"Không có trang hoặc tài nguyên '{request.url.path}'.",
                         f"No page or resource at '{request.url.path}'."))
        elif exc.status_code == 405:
            p = Problem(405, "method-not-allowed", T_METHOD,
                        (f"Phương thức {request.method} không dùng được ở đây.",
                         f"{request.method} is not allowed here."), headers=dict(exc.headers or {}))
        else:
            text = str(exc.detail)
            p = Problem(exc.status_code, f"http-{exc.status_code}", (text, text), headers=dict(exc.headers or {}))
        return problem_response(request, p)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _data_error(request: Request, exc: Exception) -> Response:
        # The database refused a value the API let through: on PostgreSQL a NUL character in text
        # or an id beyond its integer range, on SQLite (OverflowError) an integer beyond 64 bits.
        # It is bad input, not a fault.
        log.warning("database refused a value", extra={"path": request.url.path,
                                                       "error": str(getattr(exc, "orig", exc))[:200]})
        return problem_response(request, Problem(
            422, "validation-error", T_INVALID,
            ("Dữ liệu chứa giá trị không lưu được (ví dụ ký tự NUL hoặc số vượt giới hạn).",
             "The input holds a value that cannot be stored (such as a NUL character or a number out of "
             "range).")))

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path,
                                                "request_id": getattr(request.state, "request_id", None)})
        response = problem_response(request, Problem(
            500, "internal-error", T_INTERNAL,
            ("Đã xảy ra lỗi hệ thống. Vui lòng báo mã yêu cầu cho quản trị viên.",
             "Something went wrong on our side. Please give the request id to an administrator.")))
        # Starlette sends this response from its outermost middleware, around RequestContextMiddleware,
        # so the headers that middleware adds to every other response are set here.
        from cityai.web.middleware import CSP

        rid = getattr(request.state, "request_id", None)
        if rid:
            response.headers["x-request-id"] = rid
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "same-origin"
        response.headers["content-security-policy"] = CSP
        return response
