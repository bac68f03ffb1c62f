"""Sharing between agencies: an agency asks for a shared dataset, the owner's steward decides.

request -> approved (with a scope of resources and an expiry) or refused (with a reason);
an approved grant is checked on every read (cityai.data.access) and can be revoked at once.
Every step is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from cityai.core import authz
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import conflict, invalid, invalid_state, not_found
from cityai.core.models import Agency
from cityai.core.text import required_text
from cityai.data import access, catalog
from cityai.data.models import AccessGrant, Resource

GRANT = ("yêu cầu chia sẻ", "access grant")
MAX_DAYS = 3660


def grant_to_dict(g: AccessGrant) -> dict[str, Any]:
    return {
        "id": g.id, "dataset_id": g.dataset_id, "agency": {"id": g.agency.id, "code": g.agency.code,
                                                            "name": g.agency.name},
        "purpose": g.purpose, "status": g.status, "resource_ids": g.resource_ids,
        "expires_at": g.expires_at.isoformat() if g.expires_at else None, "reason": g.reason,
        "requested_by": g.requested_by, "decided_by": g.decided_by,
        "decided_at": g.decided_at.isoformat() if g.decided_at else None,
        "created_at": g.created_at.isoformat() if g.created_at else None,
    }


def _get(ctx: Context, grant_id: str) -> AccessGrant:
    g = ctx.db.get(AccessGrant, grant_id) if isinstance(grant_id, str) and len(grant_id) <= 36 else None
    if g is None:
        raise not_found(GRANT, grant_id)
    return g


def _auth_request(ctx: Context, *, agency_id: int | None = None, **_: Any) -> bool:
    # A member of the requesting agency asks on its behalf (editors and admins too).
    return not ctx.actor.is_anonymous and agency_id is not None and ctx.has_role(agency_id, "member")


@authz.action("grant.request", scope="write", auth=_auth_request)
def grant_request(ctx: Context, *, dataset: str, agency_id: int, purpose: str,
                  resource_ids: list[str] | None = None) -> AccessGrant:
    """Ask for access to a shared dataset on behalf of an agency, stating the purpose."""
    ds = catalog.get_dataset(ctx, dataset)
    if ds.visibility != "shared":
        raise invalid_state(("Chỉ yêu cầu chia sẻ được với bộ dữ liệu ở chế độ 'chia sẻ'.",
                             "Access can only be requested to datasets whose visibility is 'shared'."))
    if ctx.db.get(Agency, agency_id) is None:
        raise not_found(("đơn vị", "agency"), agency_id)
    if agency_id in ctx.ancestors(ds.owner_id):
        raise invalid_state(("Đơn vị này đã có quyền với bộ dữ liệu của mình.",
                             "This agency already has access as the owner (or above it)."))
    pending = ctx.db.execute(select(AccessGrant.id).where(
        AccessGrant.dataset_id == ds.id, AccessGrant.agency_id == agency_id,
        AccessGrant.status.in_(("requested", "approved")))).first()
    if pending:
        raise conflict(("Đơn vị đã có yêu cầu đang chờ hoặc đã được chấp thuận.",
                        "The agency already has a pending or approved request."))
    ids = _check_resources(ctx, ds.id, resource_ids)
    g = AccessGrant(dataset_id=ds.id, agency_id=agency_id, requested_by=ctx.actor.user_id,
                    purpose=required_text(purpose, "purpose", 5000), status="requested", resource_ids=ids)
    ctx.db.add(g)
    ctx.db.flush()
    ctx.audit("grant.request", "grant", g.id, dataset=ds.name, agency_id=agency_id, resources=ids)
    return g


def _check_resources(ctx: Context, dataset_id: str, resource_ids: list[str] | None) -> list[str] | None:
    if resource_ids is None:
        return None
    if not isinstance(resource_ids, list) or not resource_ids or len(resource_ids) > 500:
        raise invalid(("Danh sách tài nguyên không hợp lệ.", "Invalid list of resources."), field="resource_ids")
    known = set(ctx.db.execute(select(Resource.id).where(Resource.dataset_id == dataset_id,
                                                         Resource.state == "active")).scalars())
    unknown = [r for r in resource_ids if r not in known]
    if unknown:
        raise invalid((f"Tài nguyên không thuộc bộ dữ liệu: {', '.join(map(str, unknown))}.",
                       f"Resources not in this dataset: {', '.join(map(str, unknown))}."), field="resource_ids")
    return sorted(set(resource_ids))


def _auth_owner_steward(ctx: Context, *, grant_id: str, **_: Any) -> bool:
    g = ctx.db.get(AccessGrant, grant_id) if isinstance(grant_id, str) else None
    if g is None:
        return not ctx.actor.is_anonymous  # 404 from the action
    ds = ctx.db.get(catalog.Dataset, g.dataset_id)
    return ds is not None and access.can_edit(ctx, ds)


@authz.action("grant.decide", scope="write", auth=_auth_owner_steward)
def grant_decide(ctx: Context, *, grant_id: str, approve: bool, reason: str | None = None,
                 expires_in_days: int | None = 365, resource_ids: list[str] | None = None) -> AccessGrant:
    """Approve (with a scope of resources and an expiry) or refuse (with a reason) a request."""
    g = _get(ctx, grant_id)
    if g.status != "requested":
        raise invalid_state((f"Yêu cầu đã được xử lý ({g.status}).", f"The request was already decided ({g.status})."))
    g.decided_by, g.decided_at = ctx.actor.user_id, utcnow()
    if approve:
        if expires_in_days is None or not (1 <= int(expires_in_days) <= MAX_DAYS):
            raise invalid((f"Thời hạn phải từ 1 đến {MAX_DAYS} ngày.", f"expires_in_days must be 1 to {MAX_DAYS}."),
                          field="expires_in_days")
        g.status = "approved"
        g.expires_at = utcnow() + dt.timedelta(days=int(expires_in_days))
        if resource_ids is not None:
            g.resource_ids = _check_resources(ctx, g.dataset_id, resource_ids)
        g.reason = required_text(reason, "reason", 5000) if reason else None
    else:
        g.status = "refused"
        g.reason = required_text(reason, "reason", 5000)
    ctx.db.flush()
    ctx.audit("grant.decide", "grant", g.id, status=g.status, resources=g.resource_ids,
              expires_at=g.expires_at.isoformat() if g.expires_at else None, reason=g.reason)
    return g


@authz.action("grant.revoke", scope="write", auth=_auth_owner_steward)
def grant_revoke(ctx: Context, *, grant_id: str, reason: str | None = None) -> AccessGrant:
    """Withdraw an approved grant at once."""
    g = _get(ctx, grant_id)
    if g.status != "approved":
        raise invalid_state(("Chỉ thu hồi được quyền đã chấp thuận.", "Only an approved grant can be revoked."))
    g.status, g.reason = "revoked", reason or g.reason
    g.decided_by, g.decided_at = ctx.actor.user_id, utcnow()
    ctx.db.flush()
    ctx.audit("grant.revoke", "grant", g.id, reason=reason)
    return g


def _auth_list(ctx: Context, *, dataset: str | None = None, agency_id: int | None = None, **_: Any) -> bool:
    if ctx.actor.is_anonymous:
        return False
    if dataset is not None:
        ds = catalog._dataset_or_none(ctx, dataset)
        return ds is None or access.can_edit(ctx, ds)
    return agency_id is not None and ctx.has_role(agency_id, "member")


@authz.action("grant.list", scope="read", auth=_auth_list)
def grant_list(ctx: Context, *, dataset: str | None = None, agency_id: int | None = None) -> list[AccessGrant]:
    """Requests for a dataset (its stewards), or an agency's own requests (its members)."""
    q = select(AccessGrant).order_by(AccessGrant.created_at.desc())
    if dataset is not None:
        q = q.where(AccessGrant.dataset_id == catalog.get_dataset(ctx, dataset).id)
    if agency_id is not None:
        q = q.where(AccessGrant.agency_id == agency_id)
    return list(ctx.db.execute(q).scalars())
