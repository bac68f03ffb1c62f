"""Identity actions: agencies (a hierarchy), users, memberships with roles, tokens, login.

Every public function is an operation declared with :func:`cityai.core.authz.action`; the web API,
the web pages and the CLI all call these.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import email_validator
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from cityai.core import authz, security
from cityai.core.context import Actor, Context
from cityai.core.db import utcnow
from cityai.core.errors import (
    T_BAD_TOKEN,
    T_THROTTLED,
    Problem,
    conflict,
    invalid,
    invalid_state,
    not_found,
    unauthorized,
)
from cityai.core.models import AGENCY_KINDS, ROLES, Agency, ApiToken, LoginAttempt, Membership, User
from cityai.core.text import nfc, required_text

AGENCY = ("đơn vị", "agency")
USER = ("người dùng", "user")
TOKEN = ("mã truy cập", "token")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TOKEN_SCOPES = ("read", "write", "admin")
MAX_TOKEN_DAYS = 366

# Government networks are often closed, with internal mail domains such as ``so.local``: accept the
# special-use names (RFC 6761) that email-validator refuses by default.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = []


def normalize_email(email: str) -> str:
    email = nfc(email) or ""
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise invalid((f"Địa chỉ e-mail không hợp lệ: {email!r}.", f"Invalid e-mail address: {exc}"),
                      field="email") from None


# ================================================================== agencies


def agency_to_dict(a: Agency, locale: str = "vi") -> dict[str, Any]:
    return {
        "id": a.id,
        "code": a.code,
        "name": a.name,
        "name_en": a.name_en,
        "kind": a.kind,
        "kind_label": AGENCY_KINDS.get(a.kind, (a.kind, a.kind))[1 if locale == "en" else 0],
        "parent_id": a.parent_id,
        "description": a.description,
    }


@authz.action("agency.list", scope="read", auth=authz.anyone)
def agency_list(ctx: Context, *, q: str | None = None, parent_id: int | None = None, kind: str | None = None,
                limit: int = 100, offset: int = 0) -> tuple[list[Agency], int]:
    """List agencies (public), filtered by text, parent or kind."""
    query = select(Agency)
    if q:
        term = nfc(q)
        query = query.where(or_(Agency.name.icontains(term, autoescape=True),
                                Agency.name_en.icontains(term, autoescape=True),
                                Agency.code.icontains(term, autoescape=True)))
    if parent_id is not None:
        query = query.where(Agency.parent_id == parent_id)
    if kind:
        query = query.where(Agency.kind == kind)
    total = ctx.db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = ctx.db.execute(query.order_by(Agency.parent_id.is_not(None), Agency.name, Agency.id)
                          .limit(limit).offset(offset)).scalars().all()
    return list(rows), total


@authz.action("agency.show", scope="read", auth=authz.anyone)
def agency_show(ctx: Context, *, agency_id: int) -> Agency:
    """One agency (public)."""
    agency = ctx.db.get(Agency, agency_id)
    if agency is None:
        raise not_found(AGENCY, agency_id)
    return agency


def agency_by_code(ctx: Context, code: str) -> Agency | None:
    return ctx.db.execute(select(Agency).where(Agency.code == code)).scalar_one_or_none()


def _validate_agency_fields(kind: str | None, code: str | None) -> None:
    if kind is not None and kind not in AGENCY_KINDS:
        raise invalid((f"Loại đơn vị '{kind}' không hợp lệ.", f"Unknown agency kind '{kind}'."),
                      field="kind", allowed=list(AGENCY_KINDS))
    if code is not None and not CODE_RE.match(code):
        raise invalid(("Mã đơn vị chỉ gồm chữ thường không dấu, số, '.', '_' hoặc '-'.",
                       "An agency code uses lower-case ASCII letters, digits, '.', '_' or '-'."), field="code")


def _auth_agency_create(ctx: Context, *, parent_id: int | None = None, **_: Any) -> bool:
    # The system administrator creates top-level agencies; an agency's admins create units under it.
    return ctx.actor.is_sysadmin or (parent_id is not None and ctx.has_role(parent_id, "admin"))


@authz.action("agency.create", scope="write", auth=_auth_agency_create)
def agency_create(ctx: Context, *, code: str, name: str, kind: str, parent_id: int | None = None,
                  name_en: str | None = None, description: str | None = None) -> Agency:
    """Create an agency (Sở, phòng, phường ...) under a parent."""
    code = (nfc(code) or "").lower()
    _validate_agency_fields(kind, code)
    name = required_text(name, "name", 300)
    if parent_id is not None and ctx.db.get(Agency, parent_id) is None:
        raise not_found(AGENCY, parent_id)
    if agency_by_code(ctx, code):
        raise conflict((f"Mã đơn vị '{code}' đã tồn tại.", f"Agency code '{code}' already exists."), field="code")
    dup = ctx.db.execute(select(Agency.id).where(Agency.parent_id.is_(parent_id) if parent_id is None
                                                 else Agency.parent_id == parent_id, Agency.name == name)).first()
    if dup:
        raise conflict((f"Đã có đơn vị tên '{name}' ở cùng cấp.", f"An agency named '{name}' already exists there."),
                       field="name")
    agency = Agency(code=code, name=name, kind=kind, parent_id=parent_id, name_en=nfc(name_en),
                    description=nfc(description))
    ctx.db.add(agency)
    _flush_unique(ctx, ("Đơn vị đã tồn tại.", "The agency already exists."))
    ctx.audit("agency.create", "agency", agency.id, code=code, name=name, parent_id=parent_id)
    return agency


def _auth_agency_update(ctx: Context, *, agency_id: int, **_: Any) -> bool:
    return ctx.has_role(agency_id, "admin")


@authz.action("agency.update", scope="write", auth=_auth_agency_update)
def agency_update(ctx: Context, *, agency_id: int, name: str | None = None, name_en: str | None = None,
                  description: str | None = None, parent_id: int | None = None, kind: str | None = None) -> Agency:
    """Rename or move an agency; moving it needs the system administrator."""
    agency = agency_show.unchecked(ctx, agency_id=agency_id)
    changes: dict[str, Any] = {}
    if name is not None:
        agency.name = changes["name"] = required_text(name, "name", 300)
    if name_en is not None:
        agency.name_en = changes["name_en"] = nfc(name_en)
    if description is not None:
        agency.description = changes["description"] = nfc(description)
    if kind is not None:
        _validate_agency_fields(kind, None)
        agency.kind = changes["kind"] = kind
    if parent_id is not None and parent_id != agency.parent_id:
        if not ctx.actor.is_sysadmin:
            from cityai.core.audit import record_denied

            record_denied(ctx, "agency.update", str(agency_id))  # a refusal is audited like authz.check's
            raise Problem(403, "forbidden", ("Không có quyền", "Forbidden"),
                          ("Chỉ quản trị hệ thống được chuyển đơn vị sang đơn vị cấp trên khác.",
                           "Only the system administrator may move an agency to another parent."))
        with ctx.db.no_autoflush:  # a pending rename must not be flushed under the old parent
            if ctx.db.get(Agency, parent_id) is None:
                raise not_found(AGENCY, parent_id)
            if agency_id in ctx.ancestors(parent_id):
                raise invalid(("Không thể đặt đơn vị dưới chính nó.", "An agency cannot be placed under itself."))
        agency.parent_id = changes["parent_id"] = parent_id
    if "name" in changes or "parent_id" in changes:
        # The unique constraint ignores NULL parents: check top-level names here, as agency_create does.
        pid = agency.parent_id
        with ctx.db.no_autoflush:
            dup = ctx.db.execute(select(Agency.id).where(
                Agency.parent_id.is_(None) if pid is None else Agency.parent_id == pid,
                Agency.name == agency.name, Agency.id != agency_id)).first()
        if dup:
            raise conflict(("Đã có đơn vị cùng tên ở cấp này.", "An agency with that name exists there."),
                           field="name")
    _flush_unique(ctx, ("Đã có đơn vị cùng tên ở cấp này.", "An agency with that name exists there."))
    ctx.audit("agency.update", "agency", agency_id, **changes)
    return agency


@authz.action("agency.delete", scope="admin", auth=authz.sysadmin)
def agency_delete(ctx: Context, *, agency_id: int) -> None:
    """Delete an agency that has no sub-units."""
    agency = agency_show.unchecked(ctx, agency_id=agency_id)
    if ctx.db.execute(select(Agency.id).where(Agency.parent_id == agency_id).limit(1)).first():
        raise invalid_state(("Đơn vị còn đơn vị trực thuộc.", "The agency still has sub-units."))
    try:
        with ctx.db.begin_nested():
            ctx.db.delete(agency)
            ctx.db.flush()
    except IntegrityError:  # a module's rows (e.g. datasets it owns) still refer to it
        raise invalid_state(("Đơn vị vẫn còn dữ liệu thuộc quyền quản lý.",
                             "Records owned by the agency (such as datasets) still refer to it.")) from None
    ctx.audit("agency.delete", "agency", agency_id, code=agency.code, name=agency.name)


def _flush_unique(ctx: Context, text: tuple[str, str]) -> None:
    try:
        with ctx.db.begin_nested():
            ctx.db.flush()
    except IntegrityError:
        raise conflict(text) from None


# ================================================================== users


def user_to_dict(u: User, locale: str = "vi") -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "full_name": u.full_name,
        "is_sysadmin": u.is_sysadmin,
        "is_active": u.is_active,
        "agencies": [
            {"agency_id": m.agency_id, "code": m.agency.code, "name": m.agency.name, "role": m.role}
            for m in sorted(u.memberships, key=lambda m: m.agency_id)
        ],
        "created_at": u.created_at.isoformat() if u.created_at else None,
    }


def _visible_user_ids(ctx: Context):
    """Users an agency admin may see: members of agencies they administer (and sub-agencies)."""
    admin_of = [aid for aid, role in ctx.actor.roles.items() if role == "admin"]
    return select(Membership.user_id).where(Membership.agency_id.in_(ctx.descendants(admin_of)))


@authz.action("user.list", scope="read", auth=authz.admin_anywhere)
def user_list(ctx: Context, *, q: str | None = None, agency_id: int | None = None, limit: int = 100,
              offset: int = 0) -> tuple[list[User], int]:
    """List users: all for the system administrator, their agencies' members for an agency admin."""
    query = select(User)
    if not ctx.actor.is_sysadmin:
        query = query.where(User.id.in_(_visible_user_ids(ctx)))
    if q:
        term = nfc(q)
        query = query.where(or_(User.email.icontains(term, autoescape=True),
                                User.full_name.icontains(term, autoescape=True)))
    if agency_id is not None:
        query = query.where(User.id.in_(select(Membership.user_id).where(Membership.agency_id == agency_id)))
    total = ctx.db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = ctx.db.execute(query.order_by(User.id).limit(limit).offset(offset)).scalars().all()
    ctx.audit_now("user.list", "user", None, q=q, agency_id=agency_id, count=len(rows))
    return list(rows), total


def _auth_user_show(ctx: Context, *, user_id: int, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    if ctx.actor.is_sysadmin or ctx.actor.user_id == user_id:
        return True
    if not ctx.is_admin_anywhere():
        return False
    return ctx.db.execute(select(func.count()).where(Membership.user_id == user_id,
                                                     Membership.user_id.in_(_visible_user_ids(ctx)))).scalar_one() > 0


@authz.action("user.show", scope="read", auth=_auth_user_show)
def user_show(ctx: Context, *, user_id: int) -> User:
    """One user's profile with agencies and roles (themselves, their agency admins, the sysadmin)."""
    user = ctx.db.get(User, user_id)
    if user is None:
        raise not_found(USER, user_id)
    if user_id != ctx.actor.user_id:
        ctx.audit_now("user.show", "user", user_id)
    return user


def _auth_user_create(ctx: Context, *, agency_id: int | None = None, is_sysadmin: bool = False, **_: Any) -> bool:
    if ctx.actor.is_sysadmin:
        return True
    return not is_sysadmin and agency_id is not None and ctx.has_role(agency_id, "admin")


@authz.action("user.create", scope="write", auth=_auth_user_create)
def user_create(ctx: Context, *, email: str, full_name: str, password: str | None = None,
                agency_id: int | None = None, role: str = "member", is_sysadmin: bool = False) -> User:
    """Create a user account, optionally as a member of an agency."""
    email = normalize_email(email)
    full_name = required_text(full_name, "full_name", 200)
    if password is not None and (problem := security.validate_password_strength(password)):
        raise invalid(problem, field="password")
    if ctx.db.execute(select(User.id).where(User.email == email)).first():
        raise conflict((f"E-mail '{email}' đã được dùng.", f"The e-mail '{email}' is already registered."),
                       field="email")
    user = User(email=email, full_name=full_name, is_sysadmin=is_sysadmin,
                password_hash=security.hash_password(password) if password else None)
    ctx.db.add(user)
    _flush_unique(ctx, ("E-mail đã được dùng.", "The e-mail is already registered."))
    ctx.audit("user.create", "user", user.id, email=email, is_sysadmin=is_sysadmin)
    if agency_id is not None:
        _set_membership(ctx, user, agency_id, role)
    return user


def _auth_user_update(ctx: Context, *, user_id: int, is_active: bool | None = None, **_: Any) -> bool:
    if ctx.actor.is_sysadmin:
        return True
    return ctx.actor.user_id == user_id and is_active is None


@authz.action("user.update", scope="write", auth=_auth_user_update)
def user_update(ctx: Context, *, user_id: int, full_name: str | None = None, password: str | None = None,
                is_active: bool | None = None, locale: str | None = None,
                current_password: str | None = None) -> User:
    """Change a user's name, password, language or (sysadmin) active flag."""
    user = ctx.db.get(User, user_id)
    if user is None:
        raise not_found(USER, user_id)
    changes: list[str] = []
    if full_name is not None:
        user.full_name = required_text(full_name, "full_name", 200)
        changes.append("full_name")
    if password is not None:
        if ctx.actor.user_id == user_id and not security.verify_password(user.password_hash, current_password or ""):
            raise invalid(("Mật khẩu hiện tại không đúng.", "The current password is wrong."), field="current_password")
        if problem := security.validate_password_strength(password):
            raise invalid(problem, field="password")
        user.password_hash = security.hash_password(password)
        changes.append("password")
        # Other sessions and tokens end with the old password; the caller's own session stays.
        _revoke_all(ctx, user_id, keep_token_id=ctx.actor.token_id if ctx.actor.user_id == user_id else None)
    if locale is not None:
        if locale not in ("vi", "en"):
            raise invalid(("Ngôn ngữ phải là 'vi' hoặc 'en'.", "The language must be 'vi' or 'en'."), field="locale")
        user.locale = locale
        changes.append("locale")
    if is_active is not None:
        if user_id == ctx.actor.user_id and not is_active:
            raise invalid(("Không thể tự khóa tài khoản của mình.", "You cannot deactivate yourself."))
        user.is_active = is_active
        changes.append("is_active")
        if not is_active:  # a deactivated account loses every session and token at once
            _revoke_all(ctx, user_id)
    ctx.db.flush()
    ctx.audit("user.update", "user", user_id, fields=changes)
    return user


def _revoke_all(ctx: Context, user_id: int, *, keep_token_id: int | None = None) -> int:
    """Revoke every live token and session of a user (after a password change or deactivation)."""
    q = ApiToken.__table__.update().where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep_token_id is not None:
        q = q.where(ApiToken.id != keep_token_id)
    return ctx.db.execute(q.values(revoked_at=utcnow())).rowcount or 0


# ================================================================== memberships


def _auth_membership(ctx: Context, *, agency_id: int, **_: Any) -> bool:
    return ctx.has_role(agency_id, "admin")


def _set_membership(ctx: Context, user: User, agency_id: int, role: str) -> Membership:
    if role not in ROLES:
        raise invalid((f"Vai trò '{role}' không hợp lệ.", f"Unknown role '{role}'."), field="role", allowed=list(ROLES))
    if ctx.db.get(Agency, agency_id) is None:
        raise not_found(AGENCY, agency_id)
    m = ctx.db.get(Membership, (user.id, agency_id))
    if m is None:
        m = Membership(user_id=user.id, agency_id=agency_id, role=role)
        ctx.db.add(m)
        if m not in user.memberships:  # loading the collection autoflushes m and may already hold it
            user.memberships.append(m)
    else:
        m.role = role
    ctx.db.flush()
    ctx.audit("membership.set", "membership", f"{user.id}@{agency_id}", user_id=user.id, agency_id=agency_id,
              role=role)
    return m


@authz.action("membership.set", scope="write", auth=_auth_membership)
def membership_set(ctx: Context, *, agency_id: int, user_id: int, role: str) -> Membership:
    """Add a user to an agency, or change their role there."""
    user = ctx.db.get(User, user_id)
    if user is None:
        raise not_found(USER, user_id)
    return _set_membership(ctx, user, agency_id, role)


@authz.action("membership.remove", scope="write", auth=_auth_membership)
def membership_remove(ctx: Context, *, agency_id: int, user_id: int) -> None:
    """Remove a user from an agency."""
    m = ctx.db.get(Membership, (user_id, agency_id))
    if m is None:
        raise not_found(("thành viên", "membership"), f"{user_id}@{agency_id}")
    ctx.db.delete(m)
    ctx.db.flush()
    ctx.audit("membership.remove", "membership", f"{user_id}@{agency_id}", user_id=user_id, agency_id=agency_id)


@authz.action("membership.list", scope="read", auth=_auth_membership)
def membership_list(ctx: Context, *, agency_id: int) -> list[Membership]:
    """Members of an agency with their roles (the agency's admins and the sysadmin)."""
    rows = ctx.db.execute(select(Membership).where(Membership.agency_id == agency_id)
                          .order_by(Membership.user_id)).scalars().all()
    ctx.audit_now("membership.list", "agency", agency_id, count=len(rows))
    return list(rows)


# ================================================================== tokens


def token_to_dict(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "kind": t.kind,
        "prefix": t.prefix,
        "scopes": list(t.scopes or []),
        "created_at": t.created_at.isoformat() if t.created_at else None,
        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "active": _token_active(t),
    }


def _token_active(t: ApiToken) -> bool:
    return t.revoked_at is None and (t.expires_at is None or t.expires_at > utcnow())


def _issue(ctx: Context, user: User, kind: str, name: str, scopes: list[str], expires_at: dt.datetime | None):
    secret = security.new_token(kind)
    token = ApiToken(user_id=user.id, kind=kind, name=name, prefix=secret[:10],
                     token_hash=security.token_hash(secret), scopes=scopes, expires_at=expires_at)
    ctx.db.add(token)
    return token, secret


@authz.action("token.create", scope="write", auth=authz.authenticated)
def token_create(ctx: Context, *, name: str, scopes: list[str] | None = None,
                 expires_in_days: int | None = 90) -> tuple[ApiToken, str]:
    """Create an API token for yourself; the secret is returned once and stored only as a hash."""
    if ctx.actor.kind == "api":
        from cityai.core.audit import record_denied

        record_denied(ctx, "token.create", None)  # a refusal is audited like authz.check's
        raise Problem(403, "forbidden", ("Không có quyền", "Forbidden"),
                      ("Không thể dùng mã API để tạo mã API mới; hãy đăng nhập.",
                       "An API token cannot create API tokens; log in instead."))
    name = required_text(name, "name", 200)
    scopes = sorted(set(scopes or ["read"]))
    unknown = [s for s in scopes if s not in TOKEN_SCOPES]
    if unknown:
        raise invalid((f"Phạm vi không hợp lệ: {', '.join(unknown)}.", f"Unknown scopes: {', '.join(unknown)}."),
                      field="scopes", allowed=list(TOKEN_SCOPES))
    if "admin" in scopes and not ctx.actor.is_sysadmin:
        raise invalid(("Chỉ quản trị hệ thống được cấp phạm vi 'admin'.", "Only system administrators may use the "
                       "'admin' scope."), field="scopes")
    if expires_in_days is not None and not (1 <= expires_in_days <= MAX_TOKEN_DAYS):
        raise invalid((f"Thời hạn phải từ 1 đến {MAX_TOKEN_DAYS} ngày.",
                       f"expires_in_days must be between 1 and {MAX_TOKEN_DAYS}."), field="expires_in_days")
    if expires_in_days is None:
        raise invalid(("Mã truy cập phải có thời hạn.", "A token must expire."), field="expires_in_days")
    user = ctx.db.get(User, ctx.actor.user_id)
    if ctx.db.execute(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.kind == "api",
                                                ApiToken.name == name)).first():
        raise conflict((f"Bạn đã có mã truy cập tên '{name}'.", f"You already have a token named '{name}'."),
                       field="name")
    token, secret = _issue(ctx, user, "api", name, scopes, utcnow() + dt.timedelta(days=expires_in_days))
    _flush_unique(ctx, ("Tên mã truy cập đã được dùng.", "The token name is taken."))
    ctx.audit("token.create", "token", token.id, name=name, scopes=scopes, expires_at=token.expires_at.isoformat())
    return token, secret


@authz.action("token.list", scope="read", auth=authz.authenticated)
def token_list(ctx: Context, *, include_inactive: bool = False) -> list[ApiToken]:
    """Your API tokens (never their secrets)."""
    q = select(ApiToken).where(ApiToken.user_id == ctx.actor.user_id, ApiToken.kind == "api")
    rows = ctx.db.execute(q.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).scalars().all()
    return [t for t in rows if include_inactive or _token_active(t)]


def _auth_token_revoke(ctx: Context, *, token_id: int, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    if ctx.actor.is_sysadmin:
        return True
    owner = ctx.db.execute(select(ApiToken.user_id).where(ApiToken.id == token_id)).scalar()
    return owner is None or owner == ctx.actor.user_id


@authz.action("token.revoke", scope="write", auth=_auth_token_revoke)
def token_revoke(ctx: Context, *, token_id: int) -> ApiToken:
    """Revoke a token at once."""
    token = ctx.db.get(ApiToken, token_id)
    if token is None:
        raise not_found(TOKEN, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        ctx.db.flush()
        ctx.audit("token.revoke", "token", token_id, name=token.name, owner_id=token.user_id)
    return token


# ================================================================== authentication


def _throttled(ctx: Context, email: str, ip: str | None) -> int | None:
    """Seconds to wait when this account or address has failed too often recently, else None."""
    s = ctx.platform.settings
    since = utcnow() - dt.timedelta(seconds=s.login_window_seconds)
    by_email = ctx.db.execute(select(func.count(), func.min(LoginAttempt.at))
                              .where(LoginAttempt.email == email, LoginAttempt.at >= since)).one()
    by_ip = ctx.db.execute(select(func.count()).where(LoginAttempt.ip == (ip or "-"),
                                                      LoginAttempt.at >= since)).scalar_one()
    if by_email[0] >= s.login_max_failures or by_ip >= s.login_max_failures_per_ip:
        oldest = by_email[1] or utcnow()
        return max(1, int((oldest + dt.timedelta(seconds=s.login_window_seconds) - utcnow()).total_seconds()))
    return None


def authenticate(ctx: Context, email: str, password: str) -> User:
    """Check a password login, with throttling per account and per address. Audited either way."""
    try:
        email = normalize_email(email)
    except Problem:
        email = (nfc(email) or "")[:320].lower()
    wait = _throttled(ctx, email, ctx.ip)
    if wait:
        ctx.pending_audit.append(dict(action="auth.login", object_type="user", object_id=email,
                                      outcome="denied", detail={"reason": "throttled"}))
        raise Problem(429, "too-many-attempts", T_THROTTLED,
                      (f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {wait} giây.",
                       f"Too many failed logins. Try again in {wait} seconds."),
                      headers={"Retry-After": str(wait)}, retry_after=wait)
    user = ctx.db.execute(select(User).where(User.email == email)).scalar_one_or_none()
    ok = security.verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user.is_active:
        # Both survive the rollback that the refusal causes: they are written after it.
        ip = ctx.ip or "-"
        ctx.deferred_writes.append(lambda db: db.add(LoginAttempt(email=email, ip=ip)))
        ctx.pending_audit.append(dict(action="auth.login", object_type="user", object_id=email,
                                      outcome="denied", detail={"reason": "bad credentials"}))
        raise unauthorized(("E-mail hoặc mật khẩu không đúng.", "Wrong e-mail or password."))
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    ctx.db.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
    return user


def login(ctx: Context, email: str, password: str, *, kind: str = "access") -> tuple[ApiToken, str]:
    """Password login: issue a short-lived access token (API) or a web session."""
    user = authenticate(ctx, email, password)
    hours = ctx.platform.settings.session_hours if kind == "web" else ctx.platform.settings.access_token_hours
    token, secret = _issue(ctx, user, kind, f"{kind}-{utcnow():%Y%m%d%H%M%S%f}", ["*"],
                           utcnow() + dt.timedelta(hours=hours))
    ctx.db.flush()
    ctx.audit("auth.login", "user", user.id, as_actor=Actor.for_user(user, kind=kind), via=kind,
              token_id=token.id)
    return token, secret


def logout(ctx: Context, secret: str) -> None:
    token = ctx.db.execute(select(ApiToken).where(ApiToken.token_hash == security.token_hash(secret))).scalar()
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
        ctx.audit("auth.logout", "user", token.user_id, token_id=token.id)


def _bad_token() -> Problem:
    return Problem(401, "invalid-token", T_BAD_TOKEN,
                   ("Mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi.",
                    "The token is invalid, expired or revoked."),
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


_t, _u = ApiToken.__table__.c, User.__table__.c
# Built once: these run on every authenticated request.
_TOKEN_LOOKUP = (
    select(_t.id, _t.kind, _t.scopes, _t.expires_at, _t.revoked_at, _t.last_used_at, _u.id.label("user_id"),
           _u.email, _u.is_sysadmin, _u.is_active)
    .select_from(ApiToken.__table__.join(User.__table__, _t.user_id == _u.id))
    .where(_t.token_hash == bindparam("digest"))
)
_ROLES_LOOKUP = select(Membership.__table__.c.agency_id, Membership.__table__.c.role).where(
    Membership.__table__.c.user_id == bindparam("user_id"))


def resolve_secret(db: Any, secret: str) -> tuple[Actor, bool]:
    """Resolve a bearer secret or session cookie to (Actor, last-use is stale); 401 when not valid.

    This runs on every authenticated request, so it reads plain columns with two indexed queries
    instead of loading ORM objects.
    """
    if not secret or len(secret) > 200:
        raise _bad_token()
    row = db.execute(_TOKEN_LOOKUP, {"digest": security.token_hash(secret)}).one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or not row.is_active:
        raise _bad_token()
    if row.expires_at is not None and row.expires_at <= now:
        raise _bad_token()
    roles = {aid: role for aid, role in db.execute(_ROLES_LOOKUP, {"user_id": row.user_id})}
    actor = Actor(user_id=row.user_id, email=row.email, is_sysadmin=bool(row.is_sysadmin), roles=roles,
                  scopes=frozenset(row.scopes or ["*"]), token_id=row.id, kind=row.kind)
    return actor, row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=5)


def touch_token(db: Any, token_id: int, ip: str | None) -> None:
    """Record a token's use (done at most every five minutes, after the request's own transaction)."""
    db.execute(ApiToken.__table__.update().where(ApiToken.id == token_id)
               .values(last_used_at=utcnow(), last_used_ip=ip))


def actor_for_secret(platform: Any, secret: str, ip: str | None = None) -> Actor:
    """Resolve a secret in a transaction of its own (for callers without a unit of work)."""
    with platform.transaction() as db:
        actor, stale = resolve_secret(db, secret)
    if stale:
        with platform.transaction(write=True) as db:
            touch_token(db, actor.token_id, ip)
    return actor


def me(ctx: Context) -> User:
    if ctx.actor.is_anonymous:
        raise unauthorized()
    user = ctx.db.get(User, ctx.actor.user_id)
    if user is None:
        raise unauthorized()
    return user


def create_admin(ctx: Context, email: str, password: str, full_name: str = "Quản trị hệ thống") -> tuple[User, bool]:
    """Create the system administrator, or reset that account's password. Returns (user, created)."""
    email = normalize_email(email)
    if problem := security.validate_password_strength(password):
        raise invalid(problem, field="password")
    user = ctx.db.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        user = User(email=email, full_name=required_text(full_name, "full_name", 200), is_sysadmin=True,
                    password_hash=security.hash_password(password))
        ctx.db.add(user)
        ctx.db.flush()
        ctx.audit("user.create", "user", user.id, email=email, is_sysadmin=True, via="cli")
        return user, True
    user.password_hash = security.hash_password(password)
    user.is_sysadmin = True
    user.is_active = True
    revoked = _revoke_all(ctx, user.id)
    ctx.db.flush()
    ctx.audit("user.update", "user", user.id, fields=["password", "is_sysadmin"], via="cli", revoked_tokens=revoked)
    return user, False
