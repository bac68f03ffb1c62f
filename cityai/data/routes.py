"""The data module's JSON API under /api/v1/data (the CKAN-compatible one is in ckan.py)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from cityai.core.errors import invalid, not_found
from cityai.data import catalog, datastore
from cityai.data.models import FREQUENCIES
from cityai.web.api import ERRORS
from cityai.web.deps import CtxDep
from cityai.web.pagination import Limit, Offset, offset_page

router = APIRouter(prefix="/api/v1/data", tags=["data"])


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100, examples=["chat-luong-khong-khi-2025"])
    owner_id: int
    title: str = Field(max_length=500, examples=["Chất lượng không khí TP.HCM 2025"])
    title_en: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=100_000)
    notes_en: str | None = Field(default=None, max_length=100_000)
    visibility: Literal["public", "shared", "private"] = "private"
    tags: list[str] = Field(default_factory=list, max_length=100)
    theme: str | None = Field(default=None, max_length=100)
    license_id: str | None = Field(default=None, max_length=100)
    frequency: Literal[FREQUENCIES] | None = None  # type: ignore[valid-type]
    spatial: list[str] = Field(default_factory=list, max_length=500)
    temporal_start: str | None = Field(default=None, max_length=32)
    temporal_end: str | None = Field(default=None, max_length=32)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    extras: dict[str, str | None] = Field(default_factory=dict)


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    owner_id: int | None = None
    title: str | None = Field(default=None, max_length=500)
    title_en: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=100_000)
    notes_en: str | None = Field(default=None, max_length=100_000)
    visibility: Literal["public", "shared", "private"] | None = None
    tags: list[str] | None = Field(default=None, max_length=100)
    theme: str | None = Field(default=None, max_length=100)
    license_id: str | None = Field(default=None, max_length=100)
    frequency: Literal[FREQUENCIES] | None = None  # type: ignore[valid-type]
    spatial: list[str] | None = Field(default=None, max_length=500)
    temporal_start: str | None = Field(default=None, max_length=32)
    temporal_end: str | None = Field(default=None, max_length=32)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    extras: dict[str, str | None] | None = None


class ResourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=100_000)
    format: str | None = Field(default=None, max_length=32)


class ResourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=100_000)
    format: str | None = Field(default=None, max_length=32)
    schema_overrides: dict[str, Literal["integer", "number", "boolean", "date", "timestamp", "text"]] | None = None


@router.get("/datasets", responses=ERRORS)
def search_datasets(request: Request, ctx: CtxDep, limit: Limit = 20, offset: Offset = 0,
                    q: Annotated[str | None, Query(max_length=200)] = None,
                    owner: Annotated[str | None, Query(max_length=64)] = None,
                    tags: Annotated[list[str] | None, Query()] = None,
                    theme: Annotated[str | None, Query(max_length=100)] = None,
                    visibility: Literal["public", "shared", "private"] | None = None,
                    license_id: Annotated[str | None, Query(max_length=100)] = None,
                    res_format: Annotated[str | None, Query(max_length=32)] = None,
                    sort: str = "modified_desc",
                    facet: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Search the catalog (public datasets for everyone; shared and private ones for those allowed)."""
    found = catalog.dataset_search(ctx, q=q, owner=owner, tags=tags, theme=theme, visibility=visibility,
                                   license_id=license_id, res_format=res_format, sort=sort, limit=limit,
                                   offset=offset, facets=facet)
    page = offset_page(request, [catalog.dataset_to_dict(d, ctx.locale) for d in found["results"]],
                       found["count"], limit, offset)
    page["facets"] = found["facets"]
    return page


@router.post("/datasets", status_code=201, responses=ERRORS)
def create_dataset(body: DatasetIn, ctx: CtxDep) -> dict[str, Any]:
    data = body.model_dump()
    return catalog.dataset_to_dict(catalog.dataset_create(ctx, **data), ctx.locale)


@router.get("/datasets/{dataset}", responses=ERRORS)
def show_dataset(dataset: str, ctx: CtxDep) -> dict[str, Any]:
    return catalog.dataset_to_dict(catalog.dataset_show(ctx, dataset=dataset), ctx.locale)


@router.patch("/datasets/{dataset}", responses=ERRORS)
def patch_dataset(dataset: str, body: DatasetPatch, ctx: CtxDep) -> dict[str, Any]:
    ds = catalog.dataset_update(ctx, dataset=dataset, **body.model_dump(exclude_unset=True))
    return catalog.dataset_to_dict(ds, ctx.locale)


@router.delete("/datasets/{dataset}", status_code=204, responses=ERRORS)
def delete_dataset(dataset: str, ctx: CtxDep) -> Response:
    catalog.dataset_delete(ctx, dataset=dataset)
    return Response(status_code=204)


@router.post("/datasets/{dataset}/resources", status_code=201, responses=ERRORS)
def create_resource(dataset: str, body: ResourceIn, ctx: CtxDep) -> dict[str, Any]:
    return catalog.resource_to_dict(catalog.resource_create(ctx, dataset=dataset, **body.model_dump()))


@router.get("/resources/{resource_id}", responses=ERRORS)
def show_resource(resource_id: str, ctx: CtxDep) -> dict[str, Any]:
    res, version = catalog.resource_show(ctx, resource_id=resource_id)
    out = catalog.resource_to_dict(res)
    out["current_version"] = catalog.version_to_dict(version) if version else None
    return out


@router.patch("/resources/{resource_id}", responses=ERRORS)
def patch_resource(resource_id: str, body: ResourcePatch, ctx: CtxDep) -> dict[str, Any]:
    res = catalog.resource_update(ctx, resource_id=resource_id, **body.model_dump(exclude_unset=True))
    return catalog.resource_to_dict(res)


@router.delete("/resources/{resource_id}", status_code=204, responses=ERRORS)
def delete_resource(resource_id: str, ctx: CtxDep) -> Response:
    catalog.resource_delete(ctx, resource_id=resource_id)
    return Response(status_code=204)


@router.post("/resources/{resource_id}/upload", status_code=202, responses=ERRORS)
def upload_resource(resource_id: str, ctx: CtxDep, upload: Annotated[UploadFile, File()],
                    format: Annotated[str | None, Form(max_length=32)] = None) -> dict[str, Any]:
    """Upload a file (CSV, XLSX, JSON, GeoJSON, Parquet) as the resource's next version; poll the job."""
    version = catalog.resource_upload(ctx, resource_id=resource_id, stream=upload.file,
                                      filename=upload.filename or "upload", fmt=format)
    return catalog.version_to_dict(version)


@router.get("/resources/{resource_id}/versions", responses=ERRORS)
def list_versions(request: Request, resource_id: str, ctx: CtxDep) -> dict[str, Any]:
    rows = [catalog.version_to_dict(v) for v in catalog.resource_versions(ctx, resource_id=resource_id)]
    return offset_page(request, rows, len(rows), max(len(rows), 1), 0)


def _filters(filters: str | None) -> dict[str, Any] | None:
    if not filters:
        return None
    try:
        parsed = json.loads(filters)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise invalid(("'filters' phải là một đối tượng JSON.", "'filters' must be a JSON object."), field="filters")
    return parsed


@router.get("/resources/{resource_id}/data", responses={**ERRORS, 408: ERRORS[400]})
def search_data(resource_id: str, ctx: CtxDep, limit: Annotated[int, Query(ge=0, le=datastore.MAX_LIMIT)] = 100,
                offset: Offset = 0, q: Annotated[str | None, Query(max_length=500)] = None,
                plain_accents: bool = False, sort: Annotated[str | None, Query(max_length=500)] = None,
                fields: Annotated[str | None, Query(max_length=5000, description="comma separated")] = None,
                filters: Annotated[str | None, Query(max_length=20000, description='JSON: {"col": value}')] = None,
                table: Annotated[str | None, Query(max_length=200)] = None,
                include_total: bool = True) -> dict[str, Any]:
    """Rows of the resource's current table: filter, full-text search, sort, page, select fields."""
    return datastore.datastore_search(ctx, resource_id=resource_id, filters=_filters(filters), q=q,
                                      plain_accents=plain_accents,
                                      fields=[f.strip() for f in fields.split(",")] if fields else None,
                                      sort=sort, limit=limit, offset=offset, table=table,
                                      include_total=include_total)


# ------------------------------------------------------------------ downloads (the CKAN resource `url` of uploads)


def export_response(ex: Any) -> Response:
    """Stream an export's file and delete it afterwards."""
    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse

    headers = {"X-CityAI-Rows": str(ex.rows), "X-CityAI-Truncated": "true" if ex.truncated else "false",
               "X-CityAI-Defused-Cells": str(ex.defused)}
    return FileResponse(ex.path, media_type=ex.media_type, filename=ex.filename, headers=headers,
                        background=BackgroundTask(ex.cleanup))


@router.get("/resources/{resource_id}/export", responses={**ERRORS, 408: ERRORS[400]},
            response_class=StreamingResponse)
def export_data(resource_id: str, ctx: CtxDep,
                format: Literal["csv", "tsv", "xlsx", "json", "parquet"] = "csv",
                q: Annotated[str | None, Query(max_length=500)] = None, plain_accents: bool = False,
                sort: Annotated[str | None, Query(max_length=500)] = None,
                fields: Annotated[str | None, Query(max_length=5000, description="comma separated")] = None,
                filters: Annotated[str | None, Query(max_length=20000, description='JSON: {"col": value}')] = None,
                table: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The resource's table (or a filtered, sorted selection) as a file. CSV and XLSX are safe to open in a
    spreadsheet: cells that would run as formulas are prefixed with an apostrophe (header X-CityAI-Defused-Cells
    counts them); X-CityAI-Truncated says the row limit cut the export."""
    from cityai.data import export

    ex = export.datastore_export(ctx, resource_id=resource_id, format=format, filters=_filters(filters), q=q,
                                 plain_accents=plain_accents, sort=sort, table=table,
                                 fields=[f.strip() for f in fields.split(",")] if fields else None)
    return export_response(ex)


# CKAN's datastore dump URL (ckanext-datastore), for tools that download tables that way.
dump_router = APIRouter(tags=["data"])


@dump_router.get("/datastore/dump/{resource_id}", responses={**ERRORS, 408: ERRORS[400]},
                 response_class=StreamingResponse)
def datastore_dump(resource_id: str, ctx: CtxDep, format: Literal["csv", "tsv", "json", "xlsx"] = "csv",
                   q: Annotated[str | None, Query(max_length=500)] = None,
                   sort: Annotated[str | None, Query(max_length=500)] = None,
                   fields: Annotated[str | None, Query(max_length=5000)] = None,
                   filters: Annotated[str | None, Query(max_length=20000)] = None) -> Response:
    """CKAN's ``/datastore/dump/<resource_id>`` (same safety as the export)."""
    from cityai.data import export

    ex = export.datastore_export(ctx, resource_id=resource_id, format=format, filters=_filters(filters), q=q,
                                 sort=sort, fields=[f.strip() for f in fields.split(",")] if fields else None)
    return export_response(ex)


@router.get("/resources/{resource_id}/download", responses=ERRORS, response_class=StreamingResponse)
def download_resource(resource_id: str, ctx: CtxDep) -> Response:
    """The original file of the resource's current version, as uploaded (read check and audit as resource.show)."""
    import mimetypes

    res, version = catalog.resource_show(ctx, resource_id=resource_id)
    if version is None or not version.original_key or not ctx.platform.storage.exists(version.original_key):
        raise not_found(("tệp của tài nguyên", "resource file"), resource_id)
    _res, ds = catalog.get_resource(ctx, resource_id)
    catalog.audit_read(ctx, ds, "resource.download", "resource", res.id, version=version.number, size=version.size)
    filename = catalog.safe_filename(version.original_name)
    fh = ctx.platform.storage.open(version.original_key)

    def chunks():
        with fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if version.size is not None:
        headers["Content-Length"] = str(version.size)
    if version.sha256:
        headers["ETag"] = f'"{version.sha256}"'
    media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return StreamingResponse(chunks(), media_type=media, headers=headers)


# ------------------------------------------------------------------ sharing between agencies


class GrantRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency_id: int
    purpose: str = Field(max_length=5000)
    resource_ids: list[str] | None = Field(default=None, max_length=500)


class GrantDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str | None = Field(default=None, max_length=5000)
    expires_in_days: int | None = Field(default=365, ge=1, le=3660)
    resource_ids: list[str] | None = Field(default=None, max_length=500)


class GrantRevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=5000)


@router.post("/datasets/{dataset}/grants", status_code=201, responses=ERRORS)
def request_grant(dataset: str, body: GrantRequestIn, ctx: CtxDep) -> dict[str, Any]:
    """Ask for access to a shared dataset on behalf of your agency, stating the purpose."""
    from cityai.data import grants

    return grants.grant_to_dict(grants.grant_request(ctx, dataset=dataset, **body.model_dump()))


@router.get("/datasets/{dataset}/grants", responses=ERRORS)
def list_grants(request: Request, dataset: str, ctx: CtxDep) -> dict[str, Any]:
    """Access requests and grants of a dataset (its stewards)."""
    from cityai.data import grants

    rows = [grants.grant_to_dict(g) for g in grants.grant_list(ctx, dataset=dataset)]
    return offset_page(request, rows, len(rows), max(len(rows), 1), 0)


@router.post("/grants/{grant_id}/decision", responses=ERRORS)
def decide_grant(grant_id: str, body: GrantDecisionIn, ctx: CtxDep) -> dict[str, Any]:
    """Approve with a scope and an expiry, or refuse with a reason (the owner's stewards)."""
    from cityai.data import grants

    return grants.grant_to_dict(grants.grant_decide(ctx, grant_id=grant_id, **body.model_dump()))


@router.post("/grants/{grant_id}/revoke", responses=ERRORS)
def revoke_grant(grant_id: str, body: GrantRevokeIn, ctx: CtxDep) -> dict[str, Any]:
    """Withdraw an approved grant at once."""
    from cityai.data import grants

    return grants.grant_to_dict(grants.grant_revoke(ctx, grant_id=grant_id, reason=body.reason))
