"""Web pages of the data module: the open-data portal and the stewards' pages.

Every page calls the same service actions as the JSON and CKAN APIs (so permissions and the audit
trail are the same); charts and maps are drawn server-side as SVG, so they work offline and without
JavaScript.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from cityai.core import jobs
from cityai.core.errors import Problem
from cityai.core.models import Agency
from cityai.data import access, catalog, datastore, grants
from cityai.data.models import FREQUENCIES, ResourceVersion
from cityai.web.deps import CtxDep
from cityai.web.templating import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("cityai.data.pages")

FACETS = ("owner", "theme", "res_format", "license_id", "tags")
PAGE = 20
PREVIEW_ROWS = 20


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


@router.get("/data", response_class=HTMLResponse)
def portal(request: Request, ctx: CtxDep, q: Annotated[str | None, Query(max_length=200)] = None,
           owner: Annotated[str | None, Query(max_length=64)] = None,
           theme: Annotated[str | None, Query(max_length=100)] = None,
           res_format: Annotated[str | None, Query(max_length=32)] = None,
           license_id: Annotated[str | None, Query(max_length=100)] = None,
           tags: Annotated[list[str] | None, Query(max_length=10)] = None,
           sort: Annotated[str, Query(max_length=20)] = "modified_desc",
           offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Response:
    """Open-data portal: search with facets by agency, theme, format, licence and tag."""
    found = catalog.dataset_search(ctx, q=q or None, owner=owner, theme=theme, res_format=res_format,
                                   license_id=license_id, tags=tags or None, sort=sort, limit=PAGE, offset=offset,
                                   facets=list(FACETS))
    chosen = {"owner": owner, "theme": theme, "res_format": res_format, "license_id": license_id}
    params = {k: v for k, v in {"q": q, **chosen}.items() if v}
    agencies = {a.code: a for a in ctx.db.execute(select(Agency)).scalars()}
    can_create = [a for a in agencies.values() if not ctx.actor.is_anonymous and ctx.has_role(a.id, "editor")]
    return render(request, "data/portal.html", {
        "q": q or "", "found": found, "chosen": chosen, "tags": tags or [], "params": params, "sort": sort,
        "offset": offset, "page": PAGE, "agencies": agencies, "can_create": can_create,
        "datasets": [catalog.dataset_to_dict(d, resources=True) for d in found["results"]],
    })


@router.get("/data/new", response_class=HTMLResponse)
def dataset_new(request: Request, ctx: CtxDep) -> Response:
    if ctx.actor.is_anonymous:
        return _login(request)
    owners = [a for a in ctx.db.execute(select(Agency).order_by(Agency.name)).scalars()
              if ctx.has_role(a.id, "editor")]
    return render(request, "data/new.html", {"owners": owners, "frequencies": FREQUENCIES, "error": None})


@router.post("/data/new")
def dataset_new_submit(request: Request, ctx: CtxDep, name: Annotated[str, Form(max_length=100)],
                       title: Annotated[str, Form(max_length=500)], owner_id: Annotated[int, Form()],
                       visibility: Annotated[str, Form(max_length=16)] = "private",
                       title_en: Annotated[str, Form(max_length=500)] = "",
                       notes: Annotated[str, Form(max_length=100_000)] = "",
                       tags: Annotated[str, Form(max_length=2000)] = "",
                       theme: Annotated[str, Form(max_length=100)] = "",
                       license_id: Annotated[str, Form(max_length=100)] = "") -> Response:
    ds = catalog.dataset_create(ctx, name=name, owner_id=owner_id, title=title, title_en=title_en or None,
                                notes=notes or None, visibility=visibility, theme=theme or None,
                                license_id=license_id or None,
                                tags=[t.strip() for t in tags.split(",") if t.strip()])
    return RedirectResponse(f"/data/{ds.name}", status_code=303)


def _api_snippets(request: Request, ds: dict[str, Any], res: dict[str, Any] | None) -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    out = {"show": f"curl -s '{base}/api/3/action/package_show?id={ds['name']}'"}
    if res:
        out["search"] = (f"curl -s '{base}/api/3/action/datastore_search?resource_id={res['id']}&limit=5'")
        out["sql"] = (f"curl -s '{base}/api/3/action/datastore_search_sql' --data-urlencode "
                      f"'sql=SELECT count(*) FROM \"{res['id']}\"'")
        out["python"] = (f"from ckanapi import RemoteCKAN\nckan = RemoteCKAN('{base}')  # apikey=TOKEN for "
                         f"non-public data\nckan.action.datastore_search(resource_id='{res['id']}', limit=5)")
    return out


@router.get("/data/{name}", response_class=HTMLResponse)
def dataset_page(request: Request, name: str, ctx: CtxDep) -> Response:
    ds = catalog.dataset_show(ctx, dataset=name)
    data = catalog.dataset_to_dict(ds)
    resources = []
    for r in ds.resources:
        if r.state != "active":
            continue
        version = ctx.db.get(ResourceVersion, r.current_version_id) if r.current_version_id else None
        resources.append({**catalog.resource_to_dict(r), "version": version})
    first_data = next((r for r in resources if r["datastore_active"]), None)
    preview = None
    if first_data is not None:
        preview = _preview(ctx, first_data["id"], 0)
    can_edit = access.can_edit(ctx, ds)
    requests_ = grants.grant_list(ctx, dataset=ds.id) if can_edit and ds.visibility == "shared" else []
    member_agencies = [a for a in ctx.db.execute(select(Agency).order_by(Agency.name)).scalars()
                       if not ctx.actor.is_anonymous and a.id in ctx.actor.roles]
    return render(request, "data/dataset.html", {
        "ds": data, "resources": resources, "preview": preview, "first": first_data, "can_edit": can_edit,
        "grant_requests": [grants.grant_to_dict(g) for g in requests_], "member_agencies": member_agencies,
        "snippets": _api_snippets(request, data, first_data), "error": request.query_params.get("error"),
    })


def _preview(ctx: Any, resource_id: str, offset: int, limit: int = PREVIEW_ROWS, q: str | None = None) -> dict:
    try:
        found = datastore.datastore_search(ctx, resource_id=resource_id, limit=limit, offset=offset, q=q or None,
                                           plain_accents=True)
    except Problem as problem:
        return {"error": problem.detail, "fields": [], "records": [], "total": 0}
    return found


@router.get("/data/{name}/resources/{resource_id}", response_class=HTMLResponse)
def resource_page(request: Request, name: str, resource_id: str, ctx: CtxDep,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  q: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    res, version = catalog.resource_show(ctx, resource_id=resource_id)
    ds = ctx.db.get(catalog.Dataset, res.dataset_id)
    table = (version.tables or [None])[0] if version and version.tables else None
    preview = _preview(ctx, res.id, offset, q=q) if table else None
    columns = table["columns"] if table else []
    prof = (table or {}).get("profile") or {}
    charts = {c["name"]: chart_svg(c, prof.get("columns", {}).get(c["name"], {})) for c in columns}
    geo = map_svg(ctx, table) if table and any(c["type"] == "geometry" for c in columns) else None
    by_ward = _ward_map(ctx, table) if table else None
    versions = catalog.resource_versions(ctx, resource_id=res.id)
    return render(request, "data/resource.html", {
        "ds": catalog.dataset_to_dict(ds, resources=False), "res": catalog.resource_to_dict(res, version),
        "version": version, "table": table, "preview": preview, "columns": columns, "profile": prof,
        "charts": charts, "map": geo, "ward_map": by_ward, "versions": versions, "offset": offset, "q": q or "", "page": PREVIEW_ROWS,
        "can_edit": access.can_edit(ctx, ds), "types": sorted(catalog.COLUMN_TYPES),
        "snippets": _api_snippets(request, catalog.dataset_to_dict(ds, resources=False),
                                  catalog.resource_to_dict(res)),
    })


@router.post("/data/{name}/resources")
def resource_add(request: Request, name: str, ctx: CtxDep, res_name: Annotated[str, Form(max_length=500)],
                 upload: Annotated[UploadFile | None, File()] = None,
                 url: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Add a resource: a link, or a file that is uploaded and ingested (the page then shows its progress)."""
    res = catalog.resource_create(ctx, dataset=name, name=res_name, url=url or None,
                                  format=(upload.filename or "").rsplit(".", 1)[-1] if upload and upload.filename
                                  else None)
    if upload is not None and upload.filename:
        version = catalog.resource_upload(ctx, resource_id=res.id, stream=upload.file, filename=upload.filename)
        return RedirectResponse(f"/data/{name}/resources/{res.id}?job={version.job_id}", status_code=303)
    return RedirectResponse(f"/data/{name}", status_code=303)


@router.post("/data/{name}/resources/{resource_id}/upload")
def resource_upload(request: Request, name: str, resource_id: str, ctx: CtxDep,
                    upload: Annotated[UploadFile, File()]) -> Response:
    version = catalog.resource_upload(ctx, resource_id=resource_id, stream=upload.file,
                                      filename=upload.filename or "upload")
    return RedirectResponse(f"/data/{name}/resources/{resource_id}?job={version.job_id}", status_code=303)


@router.get("/data/jobs/{job_id}/progress", response_class=HTMLResponse)
def job_progress(request: Request, job_id: str, ctx: CtxDep) -> Response:
    """The progress bar of an ingest (htmx polls it until the job ends)."""
    job = jobs.show(ctx, job_id=job_id)
    return render(request, "data/_progress.html", {"job": jobs.to_dict(job, ctx.locale)})


@router.post("/data/{name}/resources/{resource_id}/schema")
async def resource_schema(request: Request, name: str, resource_id: str, ctx: CtxDep) -> Response:
    """The steward's column types for the next ingest (fields ``type__<column>``)."""
    form = await request.form()
    overrides = {k[len("type__"):]: str(v) for k, v in form.items() if k.startswith("type__") and v}
    catalog.resource_update(ctx, resource_id=resource_id, schema_overrides=overrides)
    return RedirectResponse(f"/data/{name}/resources/{resource_id}", status_code=303)


@router.post("/data/{name}/access")
def access_request(request: Request, name: str, ctx: CtxDep, agency_id: Annotated[int, Form()],
                   purpose: Annotated[str, Form(max_length=5000)]) -> Response:
    grants.grant_request(ctx, dataset=name, agency_id=agency_id, purpose=purpose)
    return RedirectResponse(f"/data/{name}?requested=1", status_code=303)


@router.post("/data/{name}/access/{grant_id}")
def access_decide(request: Request, name: str, grant_id: str, ctx: CtxDep,
                  decision: Annotated[str, Form(max_length=10)], reason: Annotated[str, Form(max_length=5000)] = "",
                  expires_in_days: Annotated[int, Form(ge=1, le=3660)] = 365) -> Response:
    if decision == "revoke":
        grants.grant_revoke(ctx, grant_id=grant_id, reason=reason or None)
    else:
        grants.grant_decide(ctx, grant_id=grant_id, approve=decision == "approve", reason=reason or None,
                            expires_in_days=expires_in_days)
    return RedirectResponse(f"/data/{name}#access", status_code=303)


# ------------------------------------------------------------------ pictures (server-side SVG)


def _ward_map(ctx: Any, table: dict[str, Any]) -> dict[str, Any] | None:
    """The choropleth by ward (cityai/data/wardmap.py); a picture that fails never breaks the page."""
    import duckdb

    from cityai.data import wardmap

    try:
        return wardmap.ward_map(ctx, table)
    except (duckdb.Error, OSError, ValueError, KeyError):
        log.warning("ward map failed", exc_info=True)
        return None


def chart_svg(column: dict[str, Any], prof: dict[str, Any], width: int = 260, height: int = 90) -> dict | None:
    """A small bar chart of a column's histogram or top values: bar geometry the template draws as SVG."""
    bars: list[tuple[str, int]]
    if prof.get("histogram"):
        bars = [(str(b.get("from")), int(b["count"])) for b in prof["histogram"]]
    elif prof.get("top"):
        bars = [(str(b["value"]), int(b["count"])) for b in prof["top"]]
    else:
        return None
    top = max((c for _l, c in bars), default=0) or 1
    n = len(bars)
    bw = width / max(n, 1)
    rects = []
    for i, (label, count) in enumerate(bars):
        h = (height - 14) * count / top
        rects.append({"x": round(i * bw + 1, 2), "y": round(height - 14 - h, 2), "w": round(max(bw - 2, 1), 2),
                      "h": round(h, 2), "label": label, "count": count})
    return {"w": width, "h": height, "bars": rects, "kind": "histogram" if prof.get("histogram") else "top"}


def map_svg(ctx: Any, table: dict[str, Any], width: int = 640, height: int = 480,
            max_features: int = 2000) -> dict[str, Any] | None:
    """The table's GeoJSON geometries projected to SVG paths (equirectangular, fitted to the extent)."""
    import duckdb

    path = ctx.platform.storage.local_path(table["key"])
    label_col = next((c["name"] for c in table["columns"] if c["type"] == "text"), None)
    cols = '"geometry"' + (f', "{label_col.replace(chr(34), chr(34) * 2)}"' if label_col else "")
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT {cols} FROM read_parquet(?) WHERE geometry IS NOT NULL LIMIT {max_features}",
                           [str(path)]).fetchall()
    finally:
        con.close()
    shapes = []
    for row in rows:
        try:
            geom = json.loads(row[0])
        except (TypeError, ValueError):
            continue
        shapes.append((geom, row[1] if label_col else ""))
    points = [p for g, _l in shapes for p in _coords(g)]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    kx = math.cos(math.radians((y0 + y1) / 2))
    sx = (width - 20) / max((x1 - x0) * kx, 1e-9)
    sy = (height - 20) / max(y1 - y0, 1e-9)
    s = min(sx, sy)

    def xy(p: list[float]) -> str:
        return f"{10 + (p[0] - x0) * kx * s:.1f},{height - 10 - (p[1] - y0) * s:.1f}"

    out = []
    for geom, label in shapes:
        t = geom.get("type")
        if t in ("Point", "MultiPoint"):
            for p in _coords(geom):
                x, y = xy(p).split(",")
                out.append({"kind": "point", "x": x, "y": y, "label": label})
        else:
            rings = []
            polys = [geom["coordinates"]] if t == "Polygon" else geom.get("coordinates", []) if t == "MultiPolygon" \
                else [[geom["coordinates"]]] if t == "LineString" else []
            for poly in polys:
                for ring in poly:
                    rings.append("M" + " L".join(xy(p) for p in ring) + (" Z" if t != "LineString" else ""))
            out.append({"kind": "line" if t == "LineString" else "area", "d": " ".join(rings), "label": label})
    return {"w": width, "h": height, "shapes": out}


def _coords(geom: Any) -> list[list[float]]:
    if not isinstance(geom, dict):
        return []
    c = geom.get("coordinates")
    out: list[list[float]] = []

    def walk(x: Any) -> None:
        if isinstance(x, list) and len(x) >= 2 and all(isinstance(v, (int, float)) for v in x[:2]):
            out.append([float(x[0]), float(x[1])])
        elif isinstance(x, list):
            for y in x:
                walk(y)

    walk(c)
    return out
