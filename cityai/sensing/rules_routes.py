"""Alert rules and alerts under ``/api/v1/sensing`` (see :mod:`cityai.sensing.rules`).

- ``GET /rules`` (``agency_id``, ``kind``, ``active``), ``POST /rules`` ``{"agency_id", "name", "kind":
  "threshold" | "rate" | "silence" | "anomaly", "attribute"?, "entity_type"?, "entity_id"?, "params",
  "severity"?, "notify"?: {"webhook"?, "emails"?}, "active"?}`` → 201;
- ``GET /rules/{id}``, ``PATCH /rules/{id}`` (any of the fields but ``agency_id``), ``DELETE /rules/{id}`` → 204;
- ``GET /alerts`` (``status``: open | acknowledged | resolved | active, ``agency_id``, ``entity_id``, ``rule_id``,
  ``severity``), ``GET /alerts/{id}``;
- ``POST /alerts/{id}/acknowledge`` and ``POST /alerts/{id}/resolve`` ``{"note"?}``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cityai.sensing import rules as svc
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/sensing", tags=["sensing"])

Kind = Literal["threshold", "rate", "silence", "anomaly"]
Severity = Literal["info", "warning", "critical"]
PARAMS_DOC = ('threshold {"op": ">"|">="|"<"|"<=", "value", "clear_value"?}; rate {"max_change", "per_s"}; '
              'silence {"silence_s" >= 60}; anomaly {"z"?: 4, "days"?: 14, "window_min"?: 15, "min_points"?: 10, '
              '"min_delta"?}; any kind: "clear_after"?: 1, "flap_window_s"?: 900, "flap_limit"?: 3')


class NotifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook: str | None = Field(None, max_length=1000, description="http(s) URL that gets a JSON POST per event")
    emails: list[str] = Field(default_factory=list, max_length=svc.MAX_EMAILS)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    name: str = Field(max_length=300)
    kind: Kind
    attribute: str | None = Field(None, max_length=100, description="required except for silence rules")
    entity_type: str | None = Field(None, max_length=128)
    entity_id: str | None = Field(None, max_length=300)
    params: dict[str, Any] = Field(default_factory=dict, description=PARAMS_DOC)
    severity: Severity = "warning"
    notify: NotifyIn | None = None
    active: bool = True


class RulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=300)
    kind: Kind | None = None
    attribute: str | None = Field(None, max_length=100)
    entity_type: str | None = Field(None, max_length=128)
    entity_id: str | None = Field(None, max_length=300)
    params: dict[str, Any] | None = Field(None, description=PARAMS_DOC)
    severity: Severity | None = None
    notify: NotifyIn | None = None
    active: bool | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=svc.MAX_NOTE_CHARS)


@router.get("/rules", responses=ERRORS)
def rules(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0, agency_id: int | None = None,
          kind: Kind | None = None, active: bool | None = None) -> dict[str, Any]:
    """Alert rules of your agencies (and those below them)."""
    rows, total = svc.rule_list(ctx, agency_id=agency_id, kind=kind, active=active, limit=limit, offset=offset)
    return offset_page(request, [svc.rule_to_dict(r) for r in rows], total, limit, offset)


@router.post("/rules", status_code=201, responses=ERRORS)
def rule_create(body: RuleIn, ctx: CtxDep) -> dict[str, Any]:
    """Create an alert rule (editors of the agency or above it)."""
    data = body.model_dump()
    return svc.rule_to_dict(svc.rule_create(ctx, **data))


@router.get("/rules/{rule_id}", responses=ERRORS)
def rule_show(rule_id: int, ctx: CtxDep) -> dict[str, Any]:
    return svc.rule_to_dict(svc.rule_show(ctx, rule_id=rule_id))


@router.patch("/rules/{rule_id}", responses=ERRORS)
def rule_update(rule_id: int, body: RulePatch, ctx: CtxDep) -> dict[str, Any]:
    """Change a rule; changing what it watches, or deactivating it, resolves its unresolved alerts."""
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "kind", "severity", "active", "params"):  # these cannot be null
        if key in changes and changes[key] is None:
            changes.pop(key)
    return svc.rule_to_dict(svc.rule_update(ctx, rule_id=rule_id, **changes))


@router.delete("/rules/{rule_id}", status_code=204, responses=ERRORS)
def rule_delete(rule_id: int, ctx: CtxDep) -> Response:
    """Delete a rule and its alerts (the audit trail keeps their history)."""
    svc.rule_delete(ctx, rule_id=rule_id)
    return Response(status_code=204)


@router.get("/alerts", responses=ERRORS)
def alerts(request: Request, ctx: CtxDep, limit: Limit = 50, offset: Offset = 0,
           status: Literal["open", "acknowledged", "resolved", "active"] | None = None,
           agency_id: int | None = None, entity_id: str | None = None, rule_id: int | None = None,
           severity: Severity | None = None) -> dict[str, Any]:
    """Alerts of your agencies (and those below them), most recent activity first."""
    rows, total = svc.alert_list(ctx, status=status, agency_id=agency_id, entity_id=entity_id, rule_id=rule_id,
                                 severity=severity, limit=limit, offset=offset)
    by_id = svc.rules_by_id(ctx, [a.rule_id for a in rows])
    return offset_page(request, [svc.alert_to_dict(a, by_id.get(a.rule_id)) for a in rows], total, limit, offset)


def _alert_out(ctx: Any, alert: Any) -> dict[str, Any]:
    return svc.alert_to_dict(alert, svc.rules_by_id(ctx, [alert.rule_id]).get(alert.rule_id))


@router.get("/alerts/{alert_id}", responses=ERRORS)
def alert_show(alert_id: int, ctx: CtxDep) -> dict[str, Any]:
    return _alert_out(ctx, svc.alert_show(ctx, alert_id=alert_id))


@router.post("/alerts/{alert_id}/acknowledge", responses=ERRORS)
def alert_acknowledge(alert_id: int, ctx: CtxDep, body: NoteIn | None = None) -> dict[str, Any]:
    """Acknowledge an open alert (editors of its agency or above it)."""
    return _alert_out(ctx, svc.alert_acknowledge(ctx, alert_id=alert_id, note=body.note if body else None))


@router.post("/alerts/{alert_id}/resolve", responses=ERRORS)
def alert_resolve(alert_id: int, ctx: CtxDep, body: NoteIn | None = None) -> dict[str, Any]:
    """Resolve an alert by hand (editors of its agency or above it)."""
    return _alert_out(ctx, svc.alert_resolve(ctx, alert_id=alert_id, note=body.note if body else None))


__all__ = ["router"]
