"""Server-rendered pages of the core: home, login, agencies, users, tokens, jobs, audit log, problems."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from cityai.core import audit, authz, identity, jobs
from cityai.core.context import Actor
from cityai.core.errors import PROBLEM_TYPES, Problem
from cityai.core.models import AGENCY_KINDS, ROLES, Agency, Job, User
from cityai.web.deps import SESSION_COOKIE, CtxDep, PlatformDep, client_ip
from cityai.web.templating import render

router = APIRouter(include_in_schema=False)


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: CtxDep) -> Response:
    stats = {
        "agencies": ctx.db.execute(select(func.count()).select_from(Agency)).scalar_one(),
        "users": ctx.db.execute(select(func.count()).select_from(User)).scalar_one(),
        "jobs": ctx.db.execute(select(func.count()).select_from(Job)).scalar_one(),
    }
    return render(request, "core/home.html", {"stats": stats})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "core/login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, platform: PlatformDep, email: Annotated[str, Form(max_length=320)],
                 password: Annotated[str, Form(max_length=1024)], next: Annotated[str, Form()] = "/") -> Response:
    try:
        with platform.unit_of_work(Actor.anonymous(), ip=client_ip(request), request_id=request.state.request_id,
                                   locale=request.state.locale) as ctx:
            _token, secret = identity.login(ctx, email, password, kind="web")
    except Problem as problem:
        text = problem.detail[1 if request.state.locale == "en" else 0]
        return render(request, "core/login.html", {"next": _safe_next(next), "error": text, "email": email},
                      status_code=problem.status, headers=problem.headers)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=platform.settings.session_hours * 3600, httponly=True,
                        secure=platform.settings.secure_cookies, samesite="lax", path="/")
    return response


@router.post("/logout")
def logout(request: Request, ctx: CtxDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        identity.logout(ctx, secret)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------ agencies


@router.get("/agencies", response_class=HTMLResponse)
def agencies(request: Request, ctx: CtxDep, q: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    rows, total = identity.agency_list(ctx, q=q, limit=500)
    by_parent: dict[int | None, list[Agency]] = {}
    for a in rows:
        by_parent.setdefault(a.parent_id if not q else None, []).append(a)
    return render(request, "core/agencies.html", {"by_parent": by_parent, "total": total, "q": q or "",
                                                  "kinds": AGENCY_KINDS})


@router.get("/agencies/{agency_id}", response_class=HTMLResponse)
def agency_page(request: Request, agency_id: int, ctx: CtxDep) -> Response:
    agency = identity.agency_show(ctx, agency_id=agency_id)
    children, _total = identity.agency_list(ctx, parent_id=agency_id, limit=500)
    can_admin = ctx.has_role(agency_id, "admin") and not ctx.actor.is_anonymous
    members = identity.membership_list(ctx, agency_id=agency_id) if can_admin else []
    return render(request, "core/agency.html", {
        "agency": agency, "children": children, "members": members, "can_admin": can_admin,
        "parent": ctx.db.get(Agency, agency.parent_id) if agency.parent_id else None,
        "kinds": AGENCY_KINDS, "roles": ROLES, "error": request.query_params.get("error")})


@router.post("/agencies/{agency_id}/children")
def agency_add_child(request: Request, agency_id: int, ctx: CtxDep, code: Annotated[str, Form(max_length=64)],
                     name: Annotated[str, Form(max_length=300)], kind: Annotated[str, Form(max_length=32)],
                     name_en: Annotated[str, Form(max_length=300)] = "") -> Response:
    identity.agency_create(ctx, code=code, name=name, kind=kind, parent_id=agency_id, name_en=name_en or None)
    return RedirectResponse(f"/agencies/{agency_id}", status_code=303)


@router.post("/agencies/{agency_id}/members")
def agency_add_member(request: Request, agency_id: int, ctx: CtxDep, email: Annotated[str, Form(max_length=320)],
                      role: Annotated[str, Form(max_length=16)]) -> Response:
    # Refuse before looking the e-mail up, or the 404/403 difference tells who has an account.
    authz.check(ctx, "membership.set", agency_id=agency_id)
    user = ctx.db.execute(select(User).where(User.email == identity.normalize_email(email))).scalar_one_or_none()
    if user is None:
        raise identity.not_found(identity.USER, email)
    identity.membership_set(ctx, agency_id=agency_id, user_id=user.id, role=role)
    return RedirectResponse(f"/agencies/{agency_id}", status_code=303)


# ------------------------------------------------------------------ users


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, ctx: CtxDep, q: Annotated[str | None, Query(max_length=200)] = None,
          offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    if ctx.actor.is_anonymous:
        return _login_redirect(request)
    rows, total = identity.user_list(ctx, q=q, limit=50, offset=offset)
    admin_agencies = [a for a in ctx.db.execute(select(Agency).order_by(Agency.name)).scalars()
                      if ctx.has_role(a.id, "admin")]
    return render(request, "core/users.html", {"users": rows, "total": total, "q": q or "", "offset": offset,
                                               "agencies": admin_agencies, "roles": ROLES})


@router.post("/users")
def users_create(request: Request, ctx: CtxDep, email: Annotated[str, Form(max_length=320)],
                 full_name: Annotated[str, Form(max_length=200)], password: Annotated[str, Form(max_length=1024)],
                 agency_id: Annotated[int | None, Form()] = None,
                 role: Annotated[str, Form(max_length=16)] = "member") -> Response:
    identity.user_create(ctx, email=email, full_name=full_name, password=password, agency_id=agency_id, role=role)
    return RedirectResponse("/users", status_code=303)


# ------------------------------------------------------------------ tokens


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, ctx: CtxDep) -> Response:
    if ctx.actor.is_anonymous:
        return _login_redirect(request)
    return render(request, "core/tokens.html", {"tokens": identity.token_list(ctx, include_inactive=True),
                                                "created": None, "scopes": identity.TOKEN_SCOPES})


@router.post("/tokens", response_class=HTMLResponse)
def tokens_create(request: Request, ctx: CtxDep, name: Annotated[str, Form(max_length=200)],
                  expires_in_days: Annotated[int, Form(ge=1, le=identity.MAX_TOKEN_DAYS)] = 90,
                  scopes: Annotated[list[str] | None, Form()] = None) -> Response:
    token, secret = identity.token_create(ctx, name=name, scopes=scopes or ["read"], expires_in_days=expires_in_days)
    return render(request, "core/tokens.html", {"tokens": identity.token_list(ctx, include_inactive=True),
                                                "created": {"token": token, "secret": secret},
                                                "scopes": identity.TOKEN_SCOPES}, status_code=201)


@router.post("/tokens/{token_id}/revoke")
def tokens_revoke(request: Request, token_id: int, ctx: CtxDep) -> Response:
    identity.token_revoke(ctx, token_id=token_id)
    return RedirectResponse("/tokens", status_code=303)


# ------------------------------------------------------------------ jobs


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, ctx: CtxDep) -> Response:
    if ctx.actor.is_anonymous:
        return _login_redirect(request)
    rows, total = jobs.list_jobs(ctx, limit=100, everyone=ctx.actor.is_sysadmin)
    data = [jobs.to_dict(j, ctx.locale) for j in rows]
    template = "core/_jobs_table.html" if request.headers.get("hx-request") else "core/jobs.html"
    return render(request, template, {"jobs": data, "total": total,
                                      "active": any(j["status"] not in jobs.FINAL for j in data)})


@router.post("/jobs/{job_id}/cancel")
def jobs_cancel(request: Request, job_id: str, ctx: CtxDep) -> Response:
    jobs.cancel(ctx, job_id=job_id)
    return RedirectResponse("/jobs", status_code=303)


@router.post("/audit/jobs")
def audit_job(request: Request, ctx: CtxDep, kind: Annotated[str, Form(max_length=32)]) -> Response:
    if kind not in ("audit.verify", "audit.export"):
        raise identity.invalid(("Loại công việc không hợp lệ.", "Invalid job kind."))
    jobs.submit(ctx, kind=kind)
    return RedirectResponse("/jobs", status_code=303)


# ------------------------------------------------------------------ audit


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ctx: CtxDep, actor: Annotated[str | None, Query(max_length=320)] = None,
               action: Annotated[str | None, Query(max_length=100)] = None,
               outcome: Annotated[str | None, Query(max_length=16)] = None,
               object_type: Annotated[str | None, Query(max_length=64)] = None,
               cursor: Annotated[int | None, Query(ge=1)] = None) -> Response:
    if ctx.actor.is_anonymous:
        return _login_redirect(request)
    filters = {"actor": actor or None, "action": action or None, "outcome": outcome or None,
               "object_type": object_type or None}
    rows, nxt = audit.audit_list(ctx, limit=50, cursor=cursor, **filters)
    return render(request, "core/audit.html", {"entries": rows, "next_cursor": nxt,
                                               "filters": {k: v or "" for k, v in filters.items()}})


# ------------------------------------------------------------------ problems


@router.get("/problems/{code}", response_class=HTMLResponse)
def problem_page(request: Request, code: str) -> Response:
    title = PROBLEM_TYPES.get(code)
    if title is None:
        raise Problem(404, "not-found", ("Không tìm thấy", "Not found"),
                      (f"Không có loại lỗi '{code}'.", f"No problem type '{code}'."))
    return render(request, "core/problem_type.html", {"code": code, "title": title, "all": PROBLEM_TYPES})
