"""FastAPI dependencies: the platform, the actor (bearer token or session cookie), the unit of work."""

from __future__ import annotations

from typing import Annotated, Any, Iterator

from fastapi import Depends, Request

from cityai.core import identity, security
from cityai.core.context import Actor, Context
from cityai.core.errors import T_CSRF, Problem
from cityai.core.platform import Platform

SESSION_COOKIE = "cityai_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


def client_ip(request: Request) -> str | None:
    platform = get_platform(request)
    peer = request.client.host if request.client else None
    trusted = {p.strip() for p in platform.settings.trusted_proxies.split(",") if p.strip()}
    if peer in trusted:
        # Proxies append: the client may write anything on the left, so the caller is the right-most
        # address that is not one of our proxies.
        hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                return hop[:64]
        if hops:
            return hops[0][:64]
    return peer


def bearer_secret(request: Request) -> str | None:
    """``Authorization: Bearer <token>``, or CKAN's bare ``Authorization: <token>``."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if not value:
        return header.strip()
    raise identity.Problem(401, "invalid-token", identity.T_BAD_TOKEN,
                           ("Chỉ hỗ trợ xác thực Bearer.", "Only Bearer authentication is supported."),
                           headers={"WWW-Authenticate": "Bearer"})


def _resolve(request: Request, db: Any) -> tuple[Actor, bool]:
    """Who is calling: a bearer token, else the session cookie, else anonymous. (actor, touch token?)"""
    secret = bearer_secret(request)
    if secret is not None:
        return identity.resolve_secret(db, secret)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            actor, stale = identity.resolve_secret(db, cookie)
            if actor.kind == "web":
                request.state.session_secret = cookie
                return actor, stale
        except Problem:
            pass
        request.state.clear_session = True
    return Actor.anonymous(), False


def get_actor(request: Request) -> Actor:
    """The actor, for code outside a unit of work (pages rendering their menu, login forms)."""
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    platform = get_platform(request)
    with platform.transaction() as db:
        actor, stale = _resolve(request, db)
    if stale:
        with platform.transaction(write=True) as db:
            identity.touch_token(db, actor.token_id, client_ip(request))
    request.state.actor = actor
    return actor


async def csrf_protect(request: Request) -> None:
    """Unsafe requests authenticated by the session cookie must carry the session's CSRF token."""
    if request.method in SAFE_METHODS or request.headers.get("authorization"):
        return
    session_secret = getattr(request.state, "session_secret", None)
    if session_secret is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return
        session_secret = cookie
    candidate = request.headers.get("x-csrf-token")
    if candidate is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        candidate = form.get("csrf_token")  # type: ignore[assignment]
    key = get_platform(request).settings.effective_secret_key
    if not security.csrf_valid(key, session_secret, candidate if isinstance(candidate, str) else None):
        raise Problem(403, "csrf-failed", T_CSRF,
                      ("Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.",
                       "The form has expired or is invalid. Reload the page and try again."))


def _unit_of_work(request: Request, write: bool) -> Iterator[Context]:
    """One transaction per request; the actor is resolved inside it (one connection, one thread hop)."""
    platform = get_platform(request)
    ip = client_ip(request)
    with platform.unit_of_work(Actor.anonymous(), write=write, ip=ip,
                               request_id=getattr(request.state, "request_id", None),
                               locale=getattr(request.state, "locale", "vi")) as ctx:
        cached = getattr(request.state, "actor", None)
        if cached is None:
            cached, stale = _resolve(request, ctx.db)
            request.state.actor = cached
            if stale:
                token_id = cached.token_id
                ctx.deferred_writes.append(lambda db: identity.touch_token(db, token_id, ip))
        ctx.actor = cached
        yield ctx


def get_ctx(request: Request, _csrf: Annotated[None, Depends(csrf_protect)]) -> Iterator[Context]:
    yield from _unit_of_work(request, write=request.method not in SAFE_METHODS)


def get_read_ctx(request: Request) -> Iterator[Context]:
    """A read-only unit of work, for GET-like POSTs that change nothing (e.g. a search)."""
    yield from _unit_of_work(request, write=False)


def csrf_for(request: Request) -> str | None:
    secret = getattr(request.state, "session_secret", None)
    if not secret:
        return None
    return security.csrf_token(get_platform(request).settings.effective_secret_key, secret)


# scope="function": the unit of work commits before the response is sent, so a client that got 201 sees its
# write in its next request, and a failed commit is answered as an error instead of after a success.
CtxDep = Annotated[Context, Depends(get_ctx, scope="function")]
ReadCtxDep = Annotated[Context, Depends(get_read_ctx, scope="function")]
ActorDep = Annotated[Actor, Depends(get_actor)]
PlatformDep = Annotated[Platform, Depends(get_platform)]
