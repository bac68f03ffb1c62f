"""ASGI middleware: request ids, locale, body size limit, security headers, JSON access log."""

from __future__ import annotations

import logging
import re
import time
import uuid
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from cityai.core.errors import T_TOO_LARGE, Problem
from cityai.web import i18n

log = logging.getLogger("cityai.access")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LANG_COOKIE = "cityai_lang"

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
CSP_DOCS = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; connect-src 'self'")
# A page that other sites may show in a frame (the assistant's chat widget) sets
# ``request.state.frame_ancestors`` to the allowed origins; every other page keeps ``frame-ancestors 'none'``.
_ANCESTOR_RE = re.compile(r"^(?:\*|'self'|'none'|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?"
                          r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::(?:\d{1,5}|\*))?/?)$")


def frame_ancestors(origins: str | None) -> str:
    """The CSP ``frame-ancestors`` sources from a space-separated setting. Whatever follows a ``;`` or ``,``
    (another directive) is ignored, a token that is not a source (a path, quotes) is dropped, and nothing
    valid means ``'none'``."""
    sources = re.split(r"[;,]", origins or "", maxsplit=1)[0]
    kept = [t for t in sources.split() if _ANCESTOR_RE.match(t)]
    if "'none'" in kept and len(kept) > 1:
        kept.remove("'none'")
    return " ".join(kept) or "'none'"


def csp_for_frame(origins: str | None) -> str:
    """The page CSP with ``frame-ancestors`` opened to ``origins`` (see :func:`frame_ancestors`)."""
    return CSP.replace("frame-ancestors 'none'", f"frame-ancestors {frame_ancestors(origins)}")


class BodyTooLarge(Problem):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload-too-large", T_TOO_LARGE,
                         (f"Nội dung yêu cầu vượt quá giới hạn {limit} byte.",
                          f"The request body exceeds the limit of {limit} bytes."), limit=limit)


class RequestContextMiddleware:
    """Per request: an id (X-Request-ID), the UI locale, the body size limit, security headers, a log line."""

    def __init__(self, app, max_body_bytes: int, default_locale: str = "vi",
                 max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_body = max_body_bytes
        # the upload limit is the steward's setting, even when it is below the plain body limit
        self.max_upload = max_upload_bytes if max_upload_bytes is not None else max_body_bytes
        self.default_locale = default_locale

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")
        if not REQUEST_ID_RE.match(rid):
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is ignored, not fatal
            pass
        lang_q = (query.get("lang") or [None])[0]
        lang_c = cookies[LANG_COOKIE].value if LANG_COOKIE in cookies else None
        # Pages are Vietnamese unless the user chose English; API clients may ask by Accept-Language.
        is_api = scope.get("path", "").startswith("/api/")
        locale = i18n.negotiate(lang_q, lang_c, headers.get("accept-language") if is_api else None,
                                self.default_locale)
        i18n.set_locale(locale)
        scope["state"]["locale"] = locale
        set_lang_cookie = lang_q in i18n.LOCALES and lang_q != lang_c

        # Uploads (multipart) may be as large as max_upload_bytes and are streamed to disk by the
        # form parser; every other body is held to max_body_bytes.
        is_upload = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = self.max_upload if is_upload else self.max_body
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, send, rid, limit)
            return

        if not declared and not is_upload and "chunked" in headers.get("transfer-encoding", "").lower():
            # No declared length: read the body first, within the limit, so that an oversized one gets
            # a 413 here (an error raised while FastAPI reads the body would surface as a bare 400).
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    await self._reject(scope, send, rid, limit)
                    return
                if not message.get("more_body", False):
                    break
            buffered = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
            original_receive = receive

            async def receive():  # noqa: F811 - replays the buffered body, then waits for disconnect
                if buffered:
                    return buffered.pop()
                return await original_receive()

        received = 0
        rejected = False

        async def limited_receive():
            # A streamed upload that passes the limit is answered 413 at once; whatever the app
            # sends after that (the error its body parser makes of the abort) is dropped.
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not rejected:
                        rejected = True
                        await self._reject(scope, send, rid, limit)
                    raise BodyTooLarge(limit)
            return message

        start = time.perf_counter()
        status_holder = {"status": 500}
        path = scope.get("path", "")

        async def send_wrapper(message):
            if rejected:
                return
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                hdrs = list(message.get("headers", []))
                hdrs.append((b"x-request-id", rid.encode()))
                hdrs.append((b"x-content-type-options", b"nosniff"))
                hdrs.append((b"referrer-policy", b"same-origin"))
                if not any(k.lower() == b"content-security-policy" for k, _ in hdrs):
                    csp = CSP_DOCS if path.startswith("/api/docs") else CSP
                    framed = scope["state"].get("frame_ancestors")
                    if framed is not None and csp is CSP:
                        csp = csp_for_frame(framed)
                    hdrs.append((b"content-security-policy", csp.encode()))
                if set_lang_cookie:
                    hdrs.append((b"set-cookie",
                                 f"{LANG_COOKIE}={locale}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
                message["headers"] = hdrs
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        finally:
            if path not in ("/healthz",):
                log.info("request", extra={
                    "request_id": rid, "method": scope.get("method"), "path": path,
                    "status": status_holder["status"],
                    "ms": round((time.perf_counter() - start) * 1000, 2),
                })

    async def _reject(self, scope, send, rid: str, limit: int) -> None:
        import json

        body = BodyTooLarge(limit).to_dict(scope["state"]["locale"], instance=scope.get("path"))
        body["request_id"] = rid
        data = json.dumps(body, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(data)).encode()),
            (b"x-request-id", rid.encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})
