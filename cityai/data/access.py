"""Who may read and edit datasets: visibility, the owner agency's roles, and grants between agencies.

Every action in this module asks these functions, so the rules live in one place:
- public datasets: anyone reads them (open data);
- private datasets: members of the owning agency (or of an agency above it);
- shared datasets: those, plus members of agencies holding an approved, unexpired grant (optionally
  limited to some resources);
- editing: editors (stewards) and admins of the owning agency; the system administrator always.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.data.models import AccessGrant, Dataset


def active_grants(ctx: Context, dataset_id: str) -> list[AccessGrant]:
    if ctx.actor.is_anonymous:
        return []
    now = utcnow()
    rows = ctx.db.execute(select(AccessGrant).where(
        AccessGrant.dataset_id == dataset_id, AccessGrant.status == "approved",
        or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now))).scalars().all()
    return [g for g in rows if ctx.has_role(g.agency_id, "member")]


def can_edit(ctx: Context, ds: Dataset) -> bool:
    return not ctx.actor.is_anonymous and ctx.has_role(ds.owner_id, "editor")


def can_read(ctx: Context, ds: Dataset, resource_id: str | None = None) -> bool:
    if ds.state != "active":
        return can_edit(ctx, ds)
    if ds.visibility == "public" or ctx.actor.is_sysadmin:
        return True
    if ctx.actor.is_anonymous:
        return False
    if ctx.has_role(ds.owner_id, "member"):
        return True
    if ds.visibility == "shared":
        for g in active_grants(ctx, ds.id):
            if resource_id is None or g.resource_ids is None or resource_id in g.resource_ids:
                return True
    return False


def readable_filter(ctx: Context) -> Any:
    """A SQL condition selecting the datasets the actor may see in lists and searches."""
    if ctx.actor.is_sysadmin:
        return Dataset.state == "active"
    public = Dataset.visibility == "public"
    if ctx.actor.is_anonymous:
        return (Dataset.state == "active") & public
    member_of = [aid for aid in ctx.actor.roles]
    own = Dataset.owner_id.in_(ctx.descendants(member_of)) if member_of else None
    now = utcnow()
    granted_agencies = ctx.descendants(member_of)
    granted = Dataset.id.in_(select(AccessGrant.dataset_id).where(
        AccessGrant.agency_id.in_(granted_agencies), AccessGrant.status == "approved",
        or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now))) & (Dataset.visibility == "shared")
    cond = public | granted
    if own is not None:
        cond = cond | own
    return (Dataset.state == "active") & cond
