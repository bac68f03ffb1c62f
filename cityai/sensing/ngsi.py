"""The NGSI-LD API subset (ETSI GS CIM 009) under ``/ngsi-ld/v1``.

- ``POST /entities`` (201 + Location), ``GET /entities`` (``type``, ``id``, ``idPattern``, ``attrs``, ``q``,
  ``georel``/``geometry``/``coordinates``, ``limit``, ``offset``, ``count=true`` → ``NGSILD-Results-Count``,
  ``options=keyValues``), ``GET /entities/{id}``, ``PATCH|POST /entities/{id}/attrs``, ``DELETE
  /entities/{id}``;
- ``POST /entityOperations/upsert`` (replaces an entity's attributes; ``options=update`` merges; 201 / 204 / 207);
- ``GET /temporal/entities/{id}`` and ``GET /temporal/entities`` (``timerel`` before|after|between,
  ``timeAt``, ``endTimeAt``, ``lastN``, ``options=temporalValues`` or ``aggregatedValues`` with
  ``aggrMethods`` and ``aggrPeriodDuration``);
- ``POST|GET /subscriptions``, ``GET|DELETE /subscriptions/{id}``; ``GET /types``;
- ``GET /jsonldContexts/cityai`` — the context served locally (air-gapped networks cannot fetch ETSI's).

The tenant is the agency: the ``NGSILD-Tenant`` header carries its code. Attribute names are the short terms
of the Smart Data Models (no JSON-LD expansion is performed); responses carry a ``Link`` header to the
local context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response

from cityai.sensing import service as svc
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep

router = APIRouter(prefix="/ngsi-ld/v1", tags=["ngsi-ld"])
CONTEXT_FILE = Path(__file__).resolve().parent / "data" / "cityai-context.jsonld"
TenantHeader = Header(None, alias="NGSILD-Tenant", description="the agency's code")


def _link(request: Request) -> str:
    url = str(request.base_url).rstrip("/") + "/ngsi-ld/v1/jsonldContexts/cityai"
    return f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def _json(request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Link": _link(request), **(headers or {})})


def _csv(value: str | None) -> list[str] | None:
    return [v for v in (value or "").split(",") if v] or None


@router.get("/jsonldContexts/cityai", include_in_schema=False)
def context() -> Response:
    return Response(CONTEXT_FILE.read_bytes(), media_type="application/ld+json")


@router.post("/entities", status_code=201, responses=ERRORS)
def create_entity(request: Request, ctx: CtxDep, body: Any = Body(...), tenant: str | None = TenantHeader,
                  visibility: str | None = None) -> Response:
    """Create an entity of the tenant agency."""
    agency_id = svc._tenant_agency(ctx, tenant, None)
    eid = svc.entity_create(ctx, agency_id=agency_id, body=body, visibility=visibility)
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/entities/{quote(eid, safe=':')}"})


@router.get("/entities", responses=ERRORS)
def query_entities(request: Request, ctx: CtxDep, type: str | None = None, id: str | None = None,
                   idPattern: str | None = None, attrs: str | None = None, q: str | None = None,
                   georel: str | None = None, geometry: str | None = None, coordinates: str | None = None,
                   limit: int = 20, offset: int = 0, count: bool = False, options: str | None = None,
                   tenant: str | None = TenantHeader) -> JSONResponse:
    """Entities by type, id, attribute filter and geo-query."""
    if not 0 <= limit <= 1000 or offset < 0:
        raise svc.bad_request("limit is 0..1000 and offset >= 0")
    if not (type or id or idPattern or attrs or q or georel):
        raise svc.bad_request("name at least one of type, id, idPattern, attrs, q or georel")
    agency_id = svc._agency(ctx, code=tenant).id if tenant else None
    attr_list = _csv(attrs)
    rows, total = svc.entity_query(ctx, type=type, ids=_csv(id), id_pattern=idPattern, attrs=attr_list, q=q,
                                   geo=svc.parse_geo(georel, geometry, coordinates), agency_id=agency_id,
                                   limit=limit, offset=offset)
    simplified = "keyValues" in (options or "")
    body = [svc.entity_to_ngsi(e, attr_list, simplified=simplified) for e in rows]
    return _json(request, body, headers={"NGSILD-Results-Count": str(total)} if count else None)


@router.get("/entities/{entity_id}", responses=ERRORS)
def get_entity(entity_id: str, request: Request, ctx: CtxDep, attrs: str | None = None,
               options: str | None = None) -> JSONResponse:
    e = svc.entity_show(ctx, entity_id=entity_id)
    return _json(request, svc.entity_to_ngsi(e, _csv(attrs), simplified="keyValues" in (options or "")))


@router.patch("/entities/{entity_id}/attrs", status_code=204, responses=ERRORS)
@router.post("/entities/{entity_id}/attrs", status_code=204, responses=ERRORS, include_in_schema=False)
def update_attrs(entity_id: str, ctx: CtxDep, body: Any = Body(...)) -> Response:
    """Update (or append) attributes."""
    svc.entity_update_attrs(ctx, entity_id=entity_id, attrs=body)
    return Response(status_code=204)


@router.delete("/entities/{entity_id}", status_code=204, responses=ERRORS)
def delete_entity(entity_id: str, ctx: CtxDep) -> Response:
    svc.entity_delete(ctx, entity_id=entity_id)
    return Response(status_code=204)


@router.post("/entityOperations/upsert", responses=ERRORS)
def upsert(request: Request, ctx: CtxDep, body: Any = Body(...), options: str | None = None,
           tenant: str | None = TenantHeader) -> Response:
    """Create or update entities in one call (per-entity errors: 207 Multi-Status)."""
    agency_id = svc._tenant_agency(ctx, tenant, None)
    # NGSI-LD: upsert replaces an existing entity's attributes unless options=update
    result = svc.entity_upsert(ctx, agency_id=agency_id, entities=body, replace=(options != "update"))
    if result["errors"]:
        return _json(request, {"success": result["created"] + result["updated"], "errors": result["errors"]}, 207)
    if result["created"]:
        return _json(request, result["created"], 201)
    return Response(status_code=204)


def _temporal_args(attrs: str | None, timerel: str | None, timeAt: str | None, endTimeAt: str | None,
                   lastN: int | None, options: str | None, aggrMethods: str | None,
                   aggrPeriodDuration: str | None) -> dict[str, Any]:
    opts = set((options or "").split(","))
    aggregated = "aggregatedValues" in opts
    if aggregated and not aggrMethods:
        raise svc.bad_request("options=aggregatedValues needs aggrMethods (e.g. avg,min,max)")
    if lastN is not None and lastN < 1:
        raise svc.bad_request("lastN is a positive integer")
    return {"attrs": _csv(attrs), "timerel": timerel, "time_at": timeAt, "end_time_at": endTimeAt, "last_n": lastN,
            "aggr_methods": _csv(aggrMethods) if aggregated or aggrMethods else None,
            "aggr_period": aggrPeriodDuration, "temporal_values": "temporalValues" in opts}


@router.get("/temporal/entities/{entity_id}", responses=ERRORS)
def temporal_entity(entity_id: str, request: Request, ctx: CtxDep, attrs: str | None = None,
                    timerel: str | None = None, timeAt: str | None = None, endTimeAt: str | None = None,
                    lastN: int | None = None, options: str | None = None, aggrMethods: str | None = None,
                    aggrPeriodDuration: str | None = None) -> JSONResponse:
    """An entity's temporal evolution: its stored values (or their aggregation) over a time range."""
    args = _temporal_args(attrs, timerel, timeAt, endTimeAt, lastN, options, aggrMethods, aggrPeriodDuration)
    return _json(request, svc.temporal_entity(ctx, entity_id=entity_id, **args))


@router.get("/temporal/entities", responses=ERRORS)
def temporal_query(request: Request, ctx: CtxDep, type: str | None = None, id: str | None = None,
                   attrs: str | None = None, q: str | None = None, timerel: str | None = None,
                   timeAt: str | None = None, endTimeAt: str | None = None, lastN: int | None = None,
                   options: str | None = None, aggrMethods: str | None = None,
                   aggrPeriodDuration: str | None = None, limit: int = 20, offset: int = 0,
                   count: bool = False) -> JSONResponse:
    """The temporal evolution of every matching entity (at most 100 per page)."""
    if not (type or id or attrs or q):
        raise svc.bad_request("name at least one of type, id, attrs or q")
    if not 1 <= limit <= 100 or offset < 0:
        raise svc.bad_request("limit is 1..100 and offset >= 0")
    args = _temporal_args(attrs, timerel, timeAt, endTimeAt, lastN, options, aggrMethods, aggrPeriodDuration)
    rows, total = svc.entity_query(ctx, type=type, ids=_csv(id), attrs=args["attrs"], q=q, limit=limit,
                                   offset=offset)
    budget = [ctx.platform.settings.sensing_query_max_points]  # shared by every entity of the page
    body = [svc.temporal_entity(ctx, entity_id=e.id, budget=budget, **args) for e in rows]
    return _json(request, body, headers={"NGSILD-Results-Count": str(total)} if count else None)


@router.post("/subscriptions", status_code=201, responses=ERRORS)
def create_subscription(ctx: CtxDep, body: Any = Body(...), tenant: str | None = TenantHeader) -> Response:
    """Subscribe a webhook to changes of matching entities."""
    agency_id = svc._tenant_agency(ctx, tenant, None)
    sub = svc.subscription_create(ctx, agency_id=agency_id, body=body)
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/subscriptions/{quote(sub.id, safe=':')}"})


@router.get("/subscriptions", responses=ERRORS)
def list_subscriptions(request: Request, ctx: CtxDep, limit: int = 100, offset: int = 0) -> JSONResponse:
    rows, total = svc.subscription_list(ctx, limit=max(1, min(limit, 1000)), offset=max(0, offset))
    return _json(request, [svc.subscription_to_dict(s) for s in rows], headers={"NGSILD-Results-Count": str(total)})


@router.get("/subscriptions/{subscription_id}", responses=ERRORS)
def get_subscription(subscription_id: str, request: Request, ctx: CtxDep) -> JSONResponse:
    return _json(request, svc.subscription_to_dict(svc.subscription_show(ctx, subscription_id=subscription_id)))


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses=ERRORS)
def delete_subscription(subscription_id: str, ctx: CtxDep) -> Response:
    svc.subscription_delete(ctx, subscription_id=subscription_id)
    return Response(status_code=204)


@router.get("/types", responses=ERRORS)
def types(request: Request, ctx: CtxDep) -> JSONResponse:
    """The entity types present (public ones, and your agencies' internal ones)."""
    body = {"id": "urn:ngsi-ld:EntityTypeList:cityai", "type": "EntityTypeList", "typeList": svc.entity_types(ctx)}
    return _json(request, body)
