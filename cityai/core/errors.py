"""Errors as RFC 9457 problem details, with Vietnamese and English text.

Service functions raise :class:`Problem`; the web layer renders it as ``application/problem+json``
(API) or as an error page (web UI); the CLI prints its message. ``type`` is a relative URI under
``/problems/`` whose page documents the problem.
"""

from __future__ import annotations

from typing import Any

Text = tuple[str, str]  # (Vietnamese, English)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        title: Text,
        detail: Text | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail or title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail[1])

    def to_dict(self, locale: str = "vi", instance: str | None = None) -> dict[str, Any]:
        i = 1 if locale == "en" else 0
        body: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": self.title[i],
            "status": self.status,
            "detail": self.detail[i],
        }
        if instance:
            body["instance"] = instance
        body["vi"] = {"title": self.title[0], "detail": self.detail[0]}
        body["en"] = {"title": self.title[1], "detail": self.detail[1]}
        body.update(self.extra)
        return body


# Catalogue of problem types, for the /problems pages and the docs.
PROBLEM_TYPES: dict[str, Text] = {}


def _register(code: str, title: Text) -> Text:
    PROBLEM_TYPES[code] = title
    return title


T_NOT_FOUND = _register("not-found", ("Không tìm thấy", "Not found"))
T_CONFLICT = _register("conflict", ("Trùng lặp", "Conflict"))
T_FORBIDDEN = _register("forbidden", ("Không có quyền", "Forbidden"))
T_UNAUTHORIZED = _register("unauthorized", ("Chưa xác thực", "Authentication required"))
T_INVALID = _register("validation-error", ("Dữ liệu không hợp lệ", "Invalid input"))
T_MALFORMED = _register("malformed-body", ("Nội dung yêu cầu không đọc được", "Malformed request body"))
T_TOO_LARGE = _register("payload-too-large", ("Nội dung quá lớn", "Request body too large"))
T_THROTTLED = _register("too-many-attempts", ("Quá nhiều lần thử", "Too many attempts"))
T_BAD_TOKEN = _register("invalid-token", ("Mã truy cập không hợp lệ", "Invalid token"))
T_CSRF = _register("csrf-failed", ("Phiên biểu mẫu không hợp lệ", "CSRF check failed"))
T_METHOD = _register("method-not-allowed", ("Phương thức không được hỗ trợ", "Method not allowed"))
T_INTERNAL = _register("internal-error", ("Lỗi hệ thống", "Internal server error"))
T_UNAVAILABLE = _register("not-ready", ("Hệ thống chưa sẵn sàng", "Service not ready"))
T_STATE = _register("invalid-state", ("Trạng thái không cho phép", "Operation not allowed in this state"))


def not_found(kind: Text, key: Any) -> Problem:
    return Problem(
        404, "not-found", T_NOT_FOUND, (f"Không tìm thấy {kind[0]} '{key}'.", f"No {kind[1]} '{key}'.")
    )


def conflict(detail: Text, **extra: Any) -> Problem:
    return Problem(409, "conflict", T_CONFLICT, detail, **extra)


def invalid(detail: Text, **extra: Any) -> Problem:
    return Problem(422, "validation-error", T_INVALID, detail, **extra)


def forbidden(operation: str) -> Problem:
    return Problem(
        403,
        "forbidden",
        T_FORBIDDEN,
        (
            f"Bạn không có quyền thực hiện thao tác '{operation}'.",
            f"You are not allowed to perform '{operation}'.",
        ),
        operation=operation,
    )


def unauthorized(detail: Text | None = None) -> Problem:
    return Problem(
        401,
        "unauthorized",
        T_UNAUTHORIZED,
        detail or ("Vui lòng đăng nhập hoặc gửi mã truy cập.", "Log in or send a bearer token."),
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid_state(detail: Text) -> Problem:
    return Problem(409, "invalid-state", T_STATE, detail)
