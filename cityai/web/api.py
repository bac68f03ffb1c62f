"""The core HTTP API under /api/v1: auth, me, tokens, agencies, users, memberships, jobs, audit, health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from cityai.core import audit, identity, jobs
from cityai.core.context import Actor
from cityai.core.errors import T_UNAVAILABLE, Problem, not_found
from cityai.core.hooks import collect
from cityai.web.deps import CtxDep, PlatformDep, bearer_secret, client_ip
from cityai.web.pagination import Limit, Offset, Page, cursor_page, offset_page

router = APIRouter(prefix="/api/v1")
health = APIRouter()

PROBLEM = {"model": dict, "content": {"application/problem+json": {}}, "description": "Problem details"}
ERRORS: dict[int | str, dict[str, Any]] = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM,
                                           409: PROBLEM, 422: PROBLEM}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ schemas


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class AgencyRole(BaseModel):
    agency_id: int
    code: str
    name: str
    role: str


class UserOut(BaseModel):
    id: int
    email: str
    full_name: str
    is_sysadmin: bool
    is_active: bool
    agencies: list[AgencyRole]
    created_at: str | None = None


class MeOut(UserOut):
    scopes: list[str]
    auth: str


class AgencyOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str | None
    kind: str
    kind_label: str
    parent_id: int | None
    description: str | None


class AgencyCreate(Strict):
    code: str = Field(max_length=64, examples=["sxd.qlcl"])
    name: str = Field(max_length=300, examples=["Phòng Quản lý chất lượng công trình"])
    name_en: str | None = Field(default=None, max_length=300)
    kind: str = Field(examples=["division"])
    parent_id: int | None = None
    description: str | None = Field(default=None, max_length=5000)


class AgencyUpdate(Strict):
    name: str | None = Field(default=None, max_length=300)
    name_en: str | None = Field(default=None, max_length=300)
    kind: str | None = None
    parent_id: int | None = None
    description: str | None = Field(default=None, max_length=5000)


class UserCreate(Strict):
    email: str = Field(max_length=320)
    full_name: str = Field(max_length=200)
    password: str | None = Field(default=None, max_length=1024)
    agency_id: int | None = None
    role: Literal["admin", "editor", "member"] = "member"
    is_sysadmin: bool = False


class UserUpdate(Strict):
    full_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=1024)
    current_password: str | None = Field(default=None, max_length=1024)
    is_active: bool | None = None
    locale: Literal["vi", "en"] | None = None


class MembershipIn(Strict):
    role: Literal["admin", "editor", "member"]


class MembershipOut(BaseModel):
    user_id: int
    agency_id: int
    role: str
    email: str
    full_name: str


class ApiTokenCreate(Strict):
    name: str = Field(max_length=200)
    scopes: list[Literal["read", "write", "admin"]] = Field(default_factory=lambda: ["read"])
    expires_in_days: int = Field(default=90, ge=1, le=identity.MAX_TOKEN_DAYS)


class ApiTokenOut(BaseModel):
    id: int
    name: str
    kind: str
    prefix: str
    scopes: list[str]
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    active: bool


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The secret. It is shown only this once.")


class JobSubmit(Strict):
    kind: str = Field(max_length=100, examples=["audit.verify"])
    params: dict[str, Any] = Field(default_factory=dict)
    title: str | None = Field(default=None, max_length=300)


class JobOut(BaseModel):
    id: str
    kind: str
    title: str
    status: str
    status_label: str
    progress: float
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_retries: int
    owner_id: int | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class AuditOut(BaseModel):
    id: int
    seq: int
    at: str
    actor_id: int | None
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    ip: str | None
    request_id: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    first_bad_id: int | None
    reason: str | None


# ------------------------------------------------------------------ auth and me


@router.post("/auth/token", response_model=TokenOut, tags=["auth"], responses={401: PROBLEM, 429: PROBLEM})
def issue_token(request: Request, platform: PlatformDep, username: Annotated[str, Form(max_length=320)],
                password: Annotated[str, Form(max_length=1024)]) -> dict[str, Any]:
    """OAuth2 password flow: trade an e-mail and password for a short-lived bearer token."""
    with platform.unit_of_work(Actor.anonymous(), ip=client_ip(request),
                               request_id=request.state.request_id, locale=request.state.locale) as ctx:
        token, secret = identity.login(ctx, username, password, kind="access")
    return {"access_token": secret, "token_type": "bearer",
            "expires_in": platform.settings.access_token_hours * 3600}


@router.post("/auth/logout", status_code=204, tags=["auth"], responses=ERRORS)
def logout(request: Request, ctx: CtxDep) -> Response:
    """Revoke the bearer token that made this request."""
    secret = bearer_secret(request)  # "Bearer <token>" or the bare token, as for authentication
    if ctx.actor.is_anonymous or not secret:
        from cityai.core.errors import unauthorized

        raise unauthorized()
    identity.logout(ctx, secret)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, tags=["auth"], responses=ERRORS)
def me(ctx: CtxDep) -> dict[str, Any]:
    """The authenticated user, with agencies and roles."""
    user = identity.me(ctx)
    data = identity.user_to_dict(user, ctx.locale)
    data["scopes"] = sorted(ctx.actor.scopes)
    data["auth"] = ctx.actor.kind
    return data


# ------------------------------------------------------------------ tokens


@router.get("/tokens", response_model=Page[ApiTokenOut], tags=["tokens"], responses=ERRORS)
def list_tokens(request: Request, ctx: CtxDep, include_inactive: bool = False) -> dict[str, Any]:
    """Your API tokens (never their secrets)."""
    rows = [identity.token_to_dict(t) for t in identity.token_list(ctx, include_inactive=include_inactive)]
    return offset_page(request, rows, len(rows), max(len(rows), 1), 0)


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201, tags=["tokens"], responses=ERRORS)
def create_token(body: ApiTokenCreate, ctx: CtxDep) -> dict[str, Any]:
    """Create a scoped, expiring API token; the secret is in the response once and stored only hashed."""
    token, secret = identity.token_create(ctx, name=body.name, scopes=list(body.scopes),
                                          expires_in_days=body.expires_in_days)
    return {**identity.token_to_dict(token), "token": secret}


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], responses=ERRORS)
def revoke_token(token_id: int, ctx: CtxDep) -> Response:
    """Revoke a token."""
    identity.token_revoke(ctx, token_id=token_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ agencies


@router.get("/agencies", response_model=Page[AgencyOut], tags=["agencies"], responses=ERRORS)
def list_agencies(request: Request, ctx: CtxDep, limit: Limit = 100, offset: Offset = 0,
                  q: Annotated[str | None, Query(max_length=200)] = None, parent_id: int | None = None,
                  kind: str | None = None) -> dict[str, Any]:
    """Agencies of the city (public)."""
    rows, total = identity.agency_list(ctx, q=q, parent_id=parent_id, kind=kind, limit=limit, offset=offset)
    return offset_page(request, [identity.agency_to_dict(a, ctx.locale) for a in rows], total, limit, offset)


@router.post("/agencies", response_model=AgencyOut, status_code=201, tags=["agencies"], responses=ERRORS)
def create_agency(body: AgencyCreate, ctx: CtxDep) -> dict[str, Any]:
    """Create an agency (system administrator) or a unit under your agency (its admin)."""
    agency = identity.agency_create(ctx, **body.model_dump())
    return identity.agency_to_dict(agency, ctx.locale)


@router.get("/agencies/{agency_id}", response_model=AgencyOut, tags=["agencies"], responses=ERRORS)
def get_agency(agency_id: int, ctx: CtxDep) -> dict[str, Any]:
    return identity.agency_to_dict(identity.agency_show(ctx, agency_id=agency_id), ctx.locale)


@router.patch("/agencies/{agency_id}", response_model=AgencyOut, tags=["agencies"], responses=ERRORS)
def update_agency(agency_id: int, body: AgencyUpdate, ctx: CtxDep) -> dict[str, Any]:
    agency = identity.agency_update(ctx, agency_id=agency_id, **body.model_dump(exclude_unset=True))
    return identity.agency_to_dict(agency, ctx.locale)


@router.delete("/agencies/{agency_id}", status_code=204, tags=["agencies"], responses=ERRORS)
def delete_agency(agency_id: int, ctx: CtxDep) -> Response:
    identity.agency_delete(ctx, agency_id=agency_id)
    return Response(status_code=204)


@router.get("/agencies/{agency_id}/members", response_model=Page[MembershipOut], tags=["agencies"],
            responses=ERRORS)
def list_members(request: Request, agency_id: int, ctx: CtxDep) -> dict[str, Any]:
    identity.agency_show(ctx, agency_id=agency_id)
    rows = [_membership(m) for m in identity.membership_list(ctx, agency_id=agency_id)]
    return offset_page(request, rows, len(rows), max(len(rows), 1), 0)


@router.put("/agencies/{agency_id}/members/{user_id}", response_model=MembershipOut, tags=["agencies"],
            responses=ERRORS)
def set_member(agency_id: int, user_id: int, body: MembershipIn, ctx: CtxDep) -> dict[str, Any]:
    return _membership(identity.membership_set(ctx, agency_id=agency_id, user_id=user_id, role=body.role))


@router.delete("/agencies/{agency_id}/members/{user_id}", status_code=204, tags=["agencies"], responses=ERRORS)
def remove_member(agency_id: int, user_id: int, ctx: CtxDep) -> Response:
    identity.membership_remove(ctx, agency_id=agency_id, user_id=user_id)
    return Response(status_code=204)


def _membership(m: Any) -> dict[str, Any]:
    return {"user_id": m.user_id, "agency_id": m.agency_id, "role": m.role, "email": m.user.email,
            "full_name": m.user.full_name}


# ------------------------------------------------------------------ users


@router.get("/users", response_model=Page[UserOut], tags=["users"], responses=ERRORS)
def list_users(request: Request, ctx: CtxDep, limit: Limit = 100, offset: Offset = 0,
               q: Annotated[str | None, Query(max_length=200)] = None,
               agency_id: int | None = None) -> dict[str, Any]:
    rows, total = identity.user_list(ctx, q=q, agency_id=agency_id, limit=limit, offset=offset)
    return offset_page(request, [identity.user_to_dict(u) for u in rows], total, limit, offset)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"], responses=ERRORS)
def create_user(body: UserCreate, ctx: CtxDep) -> dict[str, Any]:
    return identity.user_to_dict(identity.user_create(ctx, **body.model_dump()))


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"], responses=ERRORS)
def get_user(user_id: int, ctx: CtxDep) -> dict[str, Any]:
    return identity.user_to_dict(identity.user_show(ctx, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"], responses=ERRORS)
def update_user(user_id: int, body: UserUpdate, ctx: CtxDep) -> dict[str, Any]:
    return identity.user_to_dict(identity.user_update(ctx, user_id=user_id, **body.model_dump(exclude_unset=True)))


# ------------------------------------------------------------------ jobs


@router.get("/jobs", response_model=Page[JobOut], tags=["jobs"], responses=ERRORS)
def list_jobs(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0,
              status: Literal[jobs.STATUSES] | None = None, everyone: bool = False) -> dict[str, Any]:  # type: ignore[valid-type]
    rows, total = jobs.list_jobs(ctx, limit=limit, offset=offset, status=status, everyone=everyone)
    return offset_page(request, [jobs.to_dict(j, ctx.locale) for j in rows], total, limit, offset)


@router.post("/jobs", response_model=JobOut, status_code=202, tags=["jobs"], responses=ERRORS)
def submit_job(body: JobSubmit, ctx: CtxDep) -> dict[str, Any]:
    """Start a background job; poll GET /api/v1/jobs/{id} for status and progress."""
    return jobs.to_dict(jobs.submit(ctx, kind=body.kind, params=body.params, title=body.title), ctx.locale)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"], responses=ERRORS)
def get_job(job_id: Annotated[str, Field(max_length=32)], ctx: CtxDep) -> dict[str, Any]:
    return jobs.to_dict(jobs.show(ctx, job_id=job_id), ctx.locale)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, tags=["jobs"], responses=ERRORS)
def cancel_job(job_id: str, ctx: CtxDep) -> dict[str, Any]:
    return jobs.to_dict(jobs.cancel(ctx, job_id=job_id), ctx.locale)


@router.get("/jobs/{job_id}/file", tags=["jobs"], responses=ERRORS)
def job_file(job_id: str, ctx: CtxDep) -> Response:
    """Download the file a finished job produced (e.g. an audit export)."""
    job = jobs.show(ctx, job_id=job_id)
    key = (job.result or {}).get("file")
    if job.status != "succeeded" or not key or not ctx.platform.storage.exists(key):
        raise not_found(("tệp kết quả", "result file"), job_id)
    ctx.audit_now("job.file", "job", job_id, file=key)  # e.g. an audit export: not public
    fh = ctx.platform.storage.open(key)
    name = key.rsplit("/", 1)[-1]
    return StreamingResponse(fh, media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ------------------------------------------------------------------ audit


@router.get("/audit", response_model=Page[AuditOut], tags=["audit"], responses=ERRORS)
def list_audit(request: Request, ctx: CtxDep, limit: Limit = 50, cursor: Annotated[int | None, Query(ge=1)] = None,
               actor: Annotated[str | None, Query(max_length=320)] = None,
               action: Annotated[str | None, Query(max_length=100)] = None,
               object_type: Annotated[str | None, Query(max_length=64)] = None,
               object_id: Annotated[str | None, Query(max_length=200)] = None,
               outcome: Literal["success", "denied", "error"] | None = None,
               since: Annotated[str | None, Query(max_length=32, description="ISO time, UTC")] = None,
               until: Annotated[str | None, Query(max_length=32)] = None) -> dict[str, Any]:
    """Audit entries, newest first (system administrators)."""
    rows, nxt = audit.audit_list(ctx, limit=limit, cursor=cursor, actor=actor, action=action,
                                 object_type=object_type, object_id=object_id, outcome=outcome,
                                 since=since, until=until)
    return cursor_page(request, rows, limit, nxt)


@router.post("/audit/verify", response_model=VerifyOut, tags=["audit"], responses=ERRORS)
def verify_audit(ctx: CtxDep) -> dict[str, Any]:
    """Verify the hash chain now (for large logs, submit the ``audit.verify`` job instead)."""
    return audit.audit_verify(ctx).as_dict()


@router.get("/audit/export", tags=["audit"], responses=ERRORS,
            response_class=StreamingResponse)
def export_audit(request: Request, ctx: CtxDep, since_seq: Annotated[int, Query(ge=0)] = 0) -> Response:
    """The audit trail as JSON lines, oldest first, for a SIEM."""
    lines = list(audit.audit_export(ctx, since_seq=since_seq))
    return Response("".join(lines), media_type="application/x-ndjson")


# ------------------------------------------------------------------ health


@health.get("/healthz", tags=["health"])
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@health.get("/readyz", tags=["health"], responses={503: PROBLEM})
def readyz(platform: PlatformDep) -> Response:
    """Readiness: database, migrations, storage and queue all answer."""
    checks: dict[str, str] = {}
    failed = False
    for name, fn in collect(platform.pm.hook.cityai_readiness(platform=platform)):
        try:
            fn()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
            failed = True
    if failed:
        p = Problem(503, "not-ready", T_UNAVAILABLE,
                    ("Một số thành phần chưa sẵn sàng.", "Some components are not ready."), checks=checks)
        return JSONResponse(p.to_dict(), status_code=503, media_type="application/problem+json")
    return JSONResponse({"status": "ready", "checks": checks})
