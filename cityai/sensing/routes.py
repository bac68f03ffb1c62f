"""The sensing module's own API under ``/api/v1/sensing`` (the NGSI-LD API is in ``ngsi.py``).

- ``POST /devices`` ``{"agency_id", "device_id", "type", "name"?, "lat"?, "lon"?, "visibility"?}`` → 201
  ``{"device", "key"}`` (the key is shown once); ``GET /devices``; ``GET|PATCH /devices/{id}``;
  ``POST /devices/{id}/rotate-key``;
- ``POST /ingest`` — a device's HTTP batch: header ``X-Device-Key``, body a list of messages ``[{"type",
  "observedAt", <attribute>: number}, ...]`` (or ``{"observations": [...]}``) → ``{"accepted",
  "stored_values", "duplicates", "rejected": [{"index", "code", "detail"}]}``;
- ``GET /rejected`` — refused messages of your agencies' devices;
- ``POST /forecast`` ``{"entity_id", "attribute", "horizon_minutes", "level"?}`` → ``{"points": [{"time",
  "value", "lower", "upper"}], "method", ...}`` (+ ``"congestion"`` for traffic speeds);
- ``GET /dashboard`` — sensors with status and latest values, open alerts, counts;
- ``GET /entities/{id}/series?attribute=&hours=`` — a compact series for charts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from cityai.sensing import service as svc
from cityai.sensing import store
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep, get_platform
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/sensing", tags=["sensing"])


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    device_id: str = Field(max_length=100)
    type: str = Field(max_length=64, description="a Smart Data Models type, e.g. TrafficFlowObserved")
    name: str | None = Field(None, max_length=300)
    lat: float | None = None
    lon: float | None = None
    ward_code: str | None = Field(None, max_length=8)
    visibility: str = "public"


@router.post("/devices", status_code=201, responses=ERRORS)
def register_device(body: DeviceIn, ctx: CtxDep) -> dict[str, Any]:
    """Register a device; the response holds its key, shown only this once."""
    d, key = svc.device_register(ctx, **body.model_dump())
    ctx.db.flush()
    return {"device": svc.device_to_dict(d, svc._agency(ctx, d.agency_id).code, ctx.locale), "key": key}


@router.get("/devices", responses=ERRORS)
def list_devices(request: Request, ctx: CtxDep, limit: Limit = 100, offset: Offset = 0, agency_id: int | None = None,
                 type: str | None = None) -> dict[str, Any]:
    items, total = svc.device_list(ctx, agency_id=agency_id, type=type, limit=limit, offset=offset)
    return offset_page(request, items, total, limit, offset)


@router.get("/devices/{device_pk}", responses=ERRORS)
def show_device(device_pk: int, ctx: CtxDep) -> dict[str, Any]:
    return svc.device_show(ctx, device_pk=device_pk)


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=300)
    active: bool | None = None
    lat: float | None = None
    lon: float | None = None
    visibility: str | None = None


@router.patch("/devices/{device_pk}", responses=ERRORS)
def update_device(device_pk: int, body: DevicePatch, ctx: CtxDep) -> dict[str, Any]:
    d, _ = svc.device_update(ctx, device_pk=device_pk, **body.model_dump(exclude_unset=True))
    return svc.device_to_dict(d, svc._agency(ctx, d.agency_id).code, ctx.locale)


@router.post("/devices/{device_pk}/rotate-key", responses=ERRORS)
def rotate_key(device_pk: int, ctx: CtxDep) -> dict[str, Any]:
    """A new key for the device; the old one stops working at once."""
    d, key = svc.device_update(ctx, device_pk=device_pk, rotate_key=True)
    return {"device": svc.device_to_dict(d, svc._agency(ctx, d.agency_id).code, ctx.locale), "key": key}


@router.post("/ingest", responses=ERRORS)
def ingest(request: Request, body: Any = Body(...),
           x_device_key: str | None = Header(None, alias="X-Device-Key")) -> dict[str, Any]:
    """A device's batch of observations (authenticated by the device's key)."""
    observations = body.get("observations") if isinstance(body, dict) and "observations" in body else body
    return svc.ingest_http(get_platform(request), key=x_device_key, observations=observations)


@router.get("/rejected", responses=ERRORS)
def rejected(request: Request, ctx: CtxDep, limit: Limit = 100, offset: Offset = 0,
             agency_id: int | None = None) -> dict[str, Any]:
    """Refused messages with the reason (unknown device, wrong unit, clock skew ...)."""
    items, total = svc.rejected_list(ctx, agency_id=agency_id, limit=limit, offset=offset)
    return offset_page(request, items, total, limit, offset)


class ForecastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_id: str = Field(max_length=300)
    attribute: str = Field(max_length=100)
    horizon_minutes: int = Field(description="1 to 10080 (7 days)")
    level: int = Field(80, description="prediction interval level: 50, 80, 90, 95 or 99")


@router.post("/forecast", responses=ERRORS)
def forecast(body: ForecastIn, ctx: CtxDep) -> dict[str, Any]:
    """Forecast with intervals; the method is chosen by backtest on the series' own history."""
    return svc.forecast(ctx, entity_id=body.entity_id, attribute=body.attribute,
                        horizon_minutes=body.horizon_minutes, level=body.level)


@router.get("/dashboard", responses=ERRORS)
def dashboard(ctx: CtxDep, type: str | None = None) -> dict[str, Any]:
    """Sensors (status, latest values), open alerts for agency staff, counts."""
    return svc.dashboard(ctx, type=type)


@router.get("/entities/{entity_id}/series", responses=ERRORS)
def series(entity_id: str, ctx: CtxDep, attribute: str, hours: int = 24) -> dict[str, Any]:
    """One attribute's values over the last ``hours`` (1-720) before its newest value, for charts."""
    if not 1 <= hours <= 720:
        raise svc._v("hours từ 1 đến 720.", "hours is 1 to 720.", field="hours")
    e = svc.entity_show(ctx, entity_id=entity_id)
    last = store.latest(ctx.db, e.id, attribute)
    if last is None:
        return {"entity_id": e.id, "attribute": attribute, "times": [], "values": []}
    pts = store.values(ctx.db, e.id, [attribute], last[0] - hours * store.HOUR_MS + 1, None,
                       limit=ctx.platform.settings.sensing_query_max_points, last=True).get(attribute, [])
    return {"entity_id": e.id, "attribute": attribute, "times": [store.iso(t) for t, _ in pts],
            "values": [v for _, v in pts]}
