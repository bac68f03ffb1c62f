"""Catalog actions: datasets (DCAT-AP-style metadata), resources, uploads into the lake, search.

Each function is one operation (``@authz.action``) that the JSON API, the CKAN-compatible API, the
pages and the CLI call. Reads of non-public datasets are audited.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from sqlalchemy import func, or_, select

from cityai.core import authz, jobs
from cityai.core.context import Context
from cityai.core.db import utcnow
from cityai.core.errors import Problem, conflict, invalid, not_found
from cityai.core.models import Agency
from cityai.core.storage import put_hashed, safe_filename  # noqa: F401 - safe_filename: also catalog's API
from cityai.core.text import nfc, required_text
from cityai.data import access
from cityai.data.models import FREQUENCIES, VISIBILITIES, Dataset, Resource, ResourceVersion

DATASET = ("bộ dữ liệu", "dataset")
RESOURCE = ("tài nguyên", "resource")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
FORMATS = {"csv", "xlsx", "json", "geojson", "parquet", "pdf", "zip", "xml", "api", "html", "docx", "txt"}
COLUMN_TYPES = {"integer", "number", "boolean", "date", "timestamp", "text"}
DATASET_FIELDS = ("title", "title_en", "notes", "notes_en", "visibility", "tags", "theme", "license_id",
                  "frequency", "spatial", "temporal_start", "temporal_end", "contact_name", "contact_email",
                  "extras")


# ------------------------------------------------------------------ loading


def get_dataset(ctx: Context, ref: str, *, include_deleted: bool = False) -> Dataset:
    """A dataset by id or name."""
    if not isinstance(ref, str) or not ref or len(ref) > 100:
        raise not_found(DATASET, ref)
    ds = ctx.db.execute(select(Dataset).where(or_(Dataset.id == ref, Dataset.name == ref))).scalar_one_or_none()
    if ds is None or (ds.state != "active" and not include_deleted):
        raise not_found(DATASET, ref)
    return ds


def get_resource(ctx: Context, resource_id: str) -> tuple[Resource, Dataset]:
    if not isinstance(resource_id, str) or not resource_id or len(resource_id) > 36:
        raise not_found(RESOURCE, resource_id)
    res = ctx.db.get(Resource, resource_id)
    if res is None or res.state != "active":
        raise not_found(RESOURCE, resource_id)
    ds = ctx.db.get(Dataset, res.dataset_id)
    if ds is None or ds.state != "active":
        raise not_found(RESOURCE, resource_id)
    return res, ds


def _dataset_or_none(ctx: Context, ref: Any) -> Dataset | None:
    try:
        return get_dataset(ctx, ref)
    except Problem:
        return None


def _auth_read(ctx: Context, *, dataset: str, **_: Any) -> bool:
    ds = _dataset_or_none(ctx, dataset)
    return ds is None or access.can_read(ctx, ds)  # unknown datasets fall through to 404


def _auth_edit(ctx: Context, *, dataset: str, **_: Any) -> bool:
    ds = _dataset_or_none(ctx, dataset)
    return (ds is None and not ctx.actor.is_anonymous) or (ds is not None and access.can_edit(ctx, ds))


def _auth_create(ctx: Context, *, owner_id: int | None = None, **_: Any) -> bool:
    return not ctx.actor.is_anonymous and owner_id is not None and ctx.has_role(owner_id, "editor")


def _auth_resource_read(ctx: Context, *, resource_id: str, **_: Any) -> bool:
    try:
        res, ds = get_resource(ctx, resource_id)
    except Problem:
        return True
    return access.can_read(ctx, ds, res.id)


def _auth_resource_edit(ctx: Context, *, resource_id: str, **_: Any) -> bool:
    try:
        _res, ds = get_resource(ctx, resource_id)
    except Problem:
        return not ctx.actor.is_anonymous
    return access.can_edit(ctx, ds)


def audit_read(ctx: Context, ds: Dataset, action: str, object_type: str, object_id: str, **detail: Any) -> None:
    """Reads of non-public data go to the audit trail (public open data does not)."""
    if ds.visibility != "public":
        ctx.audit_now(action, object_type, object_id, dataset=ds.name, visibility=ds.visibility, **detail)


# ------------------------------------------------------------------ validation


def _clean_list(value: Any, field: str, max_items: int = 100, max_len: int = 100) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in (x.strip() for x in value.split(",")) if v]
    if not isinstance(value, list) or len(value) > max_items:
        raise invalid((f"'{field}' phải là danh sách (tối đa {max_items}).", f"'{field}' must be a list "
                       f"(at most {max_items})."), field=field)
    out = []
    for v in value:
        if isinstance(v, dict) and "name" in v:  # CKAN sends tags as [{"name": ...}]
            v = v["name"]
        if not isinstance(v, str):
            raise invalid((f"Phần tử của '{field}' phải là chuỗi.", f"Items of '{field}' must be strings."),
                          field=field)
        v = required_text(v, field, max_len)
        if v not in out:
            out.append(v)
    return out


def _validate(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unknown = set(data) - set(DATASET_FIELDS) - {"name", "owner_id"}
    if unknown:
        raise invalid((f"Trường không hỗ trợ: {', '.join(sorted(unknown))}.",
                       f"Unsupported fields: {', '.join(sorted(unknown))}."), fields=sorted(unknown))
    if "title" in data or not partial:
        out["title"] = required_text(data.get("title"), "title", 500)
    for f, n in (("title_en", 500), ("notes", 100_000), ("notes_en", 100_000), ("theme", 100),
                 ("license_id", 100), ("contact_name", 200), ("contact_email", 320), ("temporal_start", 32),
                 ("temporal_end", 32)):
        if f in data:
            v = data[f]
            if v is not None and not isinstance(v, str):
                raise invalid((f"'{f}' phải là chuỗi.", f"'{f}' must be a string."), field=f)
            v = nfc(v) or None
            if v is not None and len(v) > n:
                raise invalid((f"'{f}' dài quá {n} ký tự.", f"'{f}' exceeds {n} characters."), field=f)
            out[f] = v
    if "visibility" in data or not partial:
        vis = data.get("visibility") or "private"
        if vis not in VISIBILITIES:
            raise invalid((f"Phạm vi '{vis}' không hợp lệ.", f"Unknown visibility '{vis}'."), field="visibility",
                          allowed=list(VISIBILITIES))
        out["visibility"] = vis
    if data.get("frequency") is not None:
        if data["frequency"] not in FREQUENCIES:
            raise invalid(("Tần suất cập nhật không hợp lệ.", "Unknown update frequency."), field="frequency",
                          allowed=list(FREQUENCIES))
        out["frequency"] = data["frequency"]
    elif "frequency" in data:
        out["frequency"] = None
    if "tags" in data:
        out["tags"] = _clean_list(data["tags"], "tags")
    if "spatial" in data:
        out["spatial"] = _clean_list(data["spatial"], "spatial", 500, 20)
    if "extras" in data:
        extras = data["extras"] or {}
        if isinstance(extras, list):  # CKAN: [{"key": k, "value": v}]
            extras = {e.get("key"): e.get("value") for e in extras if isinstance(e, dict)}
        if not isinstance(extras, dict) or len(extras) > 100:
            raise invalid(("'extras' phải là đối tượng.", "'extras' must be an object."), field="extras")
        out["extras"] = {required_text(str(k), "extras", 100): (nfc(str(v)) if v is not None else None)
                         for k, v in extras.items()}
    return out


def dataset_to_dict(ds: Dataset, locale: str = "vi", *, resources: bool = True) -> dict[str, Any]:
    return {
        "id": ds.id,
        "name": ds.name,
        "title": ds.title,
        "title_en": ds.title_en,
        "notes": ds.notes,
        "notes_en": ds.notes_en,
        "owner": {"id": ds.owner.id, "code": ds.owner.code, "name": ds.owner.name, "name_en": ds.owner.name_en},
        "visibility": ds.visibility,
        "tags": list(ds.tags or []),
        "theme": ds.theme,
        "license_id": ds.license_id,
        "frequency": ds.frequency,
        "spatial": list(ds.spatial or []),
        "temporal_start": ds.temporal_start,
        "temporal_end": ds.temporal_end,
        "contact_name": ds.contact_name,
        "contact_email": ds.contact_email,
        "extras": dict(ds.extras or {}),
        "state": ds.state,
        "created_at": ds.created_at.isoformat() if ds.created_at else None,
        "modified_at": ds.modified_at.isoformat() if ds.modified_at else None,
        "resources": [resource_to_dict(r) for r in ds.resources] if resources else None,
    }


def resource_to_dict(r: Resource, version: ResourceVersion | None = None) -> dict[str, Any]:
    return {
        "id": r.id,
        "dataset_id": r.dataset_id,
        "position": r.position,
        "name": r.name,
        "description": r.description,
        "format": r.format,
        "url": r.url,
        "url_type": r.url_type,
        "current_version_id": r.current_version_id,
        "datastore_active": r.current_version_id is not None,
        "schema_overrides": dict(r.schema_overrides or {}),
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "modified_at": r.modified_at.isoformat() if r.modified_at else None,
    }


def version_to_dict(v: ResourceVersion) -> dict[str, Any]:
    return {
        "id": v.id, "number": v.number, "status": v.status, "original_name": v.original_name, "size": v.size,
        "sha256": v.sha256, "format": v.format, "encoding": v.encoding, "warnings": list(v.warnings or []),
        "error": v.error, "job_id": v.job_id,
        "tables": [{k: t[k] for k in ("name", "rows", "columns")} for t in (v.tables or [])],
        "created_at": v.created_at.isoformat() if v.created_at else None,
        "published_at": v.published_at.isoformat() if v.published_at else None,
    }


# ------------------------------------------------------------------ datasets


def _title_key(title: str) -> tuple[str, str]:
    """Vietnamese titles in alphabetical order: compared first without their marks ("Ánh" sorts with "A",
    not after "Z" as code points would put it), the marks only breaking ties."""
    import unicodedata

    low = title.lower()
    base = "".join(c for c in unicodedata.normalize("NFD", low) if unicodedata.category(c) != "Mn")
    return base.replace("đ", "d"), low


@authz.action("dataset.search", scope="read", auth=authz.anyone)
def dataset_search(ctx: Context, *, q: str | None = None, owner: str | None = None, tags: list[str] | None = None,
                   theme: str | None = None, visibility: str | None = None, license_id: str | None = None,
                   res_format: str | None = None, sort: str = "modified_desc", limit: int = 20, offset: int = 0,
                   facets: list[str] | None = None) -> dict[str, Any]:
    """Search the datasets the caller may see, with facet counts."""
    cond = access.readable_filter(ctx)
    query = select(Dataset).where(cond)
    if q:
        term = nfc(q)[:200]
        query = query.where(or_(Dataset.title.icontains(term, autoescape=True),
                                Dataset.title_en.icontains(term, autoescape=True),
                                Dataset.notes.icontains(term, autoescape=True),
                                Dataset.name.icontains(term, autoescape=True)))
    if owner:
        query = query.where(Dataset.owner_id.in_(select(Agency.id).where(Agency.code == owner)))
    if theme:
        query = query.where(Dataset.theme == theme)
    if visibility:
        query = query.where(Dataset.visibility == visibility)
    if license_id:
        query = query.where(Dataset.license_id == license_id)
    if res_format:
        query = query.where(Dataset.id.in_(select(Resource.dataset_id).where(
            func.lower(Resource.format) == res_format.lower(), Resource.state == "active")))
    rows = ctx.db.execute(query).scalars().all()
    if tags:  # JSON arrays: filtered here, portable across SQLite and PostgreSQL
        wanted = set(tags)
        rows = [d for d in rows if wanted <= set(d.tags or [])]
    order = {
        "modified_desc": (lambda d: d.modified_at, True),
        "modified_asc": (lambda d: d.modified_at, False),
        "title_asc": (lambda d: _title_key(d.title), False),
        "title_desc": (lambda d: _title_key(d.title), True),
        "name_asc": (lambda d: d.name, False),
        "created_desc": (lambda d: d.created_at, True),
    }
    if sort not in order:
        raise invalid((f"Cách sắp xếp '{sort}' không hỗ trợ.", f"Unsupported sort '{sort}'."), field="sort",
                      allowed=list(order))
    key, reverse = order[sort]
    rows = sorted(rows, key=key, reverse=reverse)
    facet_counts: dict[str, dict[str, int]] = {}
    for f in facets or []:
        counts: dict[str, int] = {}
        for d in rows:
            values: list[str]
            if f == "tags":
                values = list(d.tags or [])
            elif f == "owner":
                values = [d.owner.code]
            elif f == "res_format":
                values = sorted({(r.format or "").lower() for r in d.resources if r.format})
            elif f in ("theme", "license_id", "visibility", "frequency"):
                values = [getattr(d, f)] if getattr(d, f) else []
            else:
                raise invalid((f"Không hỗ trợ nhóm theo '{f}'.", f"Unsupported facet '{f}'."), field="facet.field")
            for v in values:
                counts[v] = counts.get(v, 0) + 1
        facet_counts[f] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    page = rows[offset: offset + limit]
    return {"count": len(rows), "results": page, "facets": facet_counts}


@authz.action("dataset.show", scope="read", auth=_auth_read)
def dataset_show(ctx: Context, *, dataset: str) -> Dataset:
    """One dataset with its resources."""
    ds = get_dataset(ctx, dataset)
    audit_read(ctx, ds, "dataset.show", "dataset", ds.id)
    return ds


@authz.action("dataset.create", scope="write", auth=_auth_create)
def dataset_create(ctx: Context, *, name: str, owner_id: int | None = None, **fields: Any) -> Dataset:
    """Create a dataset owned by an agency (its editors and admins)."""
    name = (nfc(name) or "").lower()
    if not NAME_RE.match(name):
        raise invalid(("Tên định danh chỉ gồm chữ thường không dấu, số, '-' hoặc '_' (2-100 ký tự).",
                       "A dataset name uses 2-100 lower-case ASCII letters, digits, '-' or '_'."), field="name")
    if owner_id is None or ctx.db.get(Agency, owner_id) is None:
        raise not_found(("đơn vị", "agency"), owner_id)
    if ctx.db.execute(select(Dataset.id).where(Dataset.name == name)).first():
        raise conflict((f"Tên '{name}' đã được dùng.", f"The name '{name}' is already in use."), field="name")
    values = _validate(fields, partial=False)
    ds = Dataset(name=name, owner_id=owner_id, created_by=ctx.actor.user_id, **values)
    ctx.db.add(ds)
    ctx.db.flush()
    ctx.audit("dataset.create", "dataset", ds.id, name=name, owner_id=owner_id, visibility=ds.visibility)
    return ds


@authz.action("dataset.update", scope="write", auth=_auth_edit)
def dataset_update(ctx: Context, *, dataset: str, **fields: Any) -> Dataset:
    """Change a dataset's metadata (only the fields given)."""
    ds = get_dataset(ctx, dataset)
    new_owner = fields.pop("owner_id", None)
    if "name" in fields:
        name = (nfc(fields.pop("name")) or "").lower()
        if name != ds.name:
            if not NAME_RE.match(name):
                raise invalid(("Tên định danh không hợp lệ.", "Invalid dataset name."), field="name")
            if ctx.db.execute(select(Dataset.id).where(Dataset.name == name)).first():
                raise conflict((f"Tên '{name}' đã được dùng.", f"The name '{name}' is already in use."),
                               field="name")
            ds.name = name
    values = _validate(fields, partial=True)
    for k, v in values.items():
        setattr(ds, k, v)
    if new_owner is not None and new_owner != ds.owner_id:
        if not (ctx.has_role(new_owner, "editor") or ctx.actor.is_sysadmin):
            raise authz.forbidden("dataset.update")
        ds.owner_id = new_owner
    ds.modified_at = utcnow()
    ctx.db.flush()
    ctx.audit("dataset.update", "dataset", ds.id, fields=sorted(values) + (["owner_id"] if new_owner else []))
    return ds


@authz.action("dataset.delete", scope="write", auth=_auth_edit)
def dataset_delete(ctx: Context, *, dataset: str) -> None:
    """Delete a dataset (kept as deleted: its files and audit history remain)."""
    ds = get_dataset(ctx, dataset)
    ds.state = "deleted"
    ds.modified_at = utcnow()
    ctx.db.flush()
    ctx.audit("dataset.delete", "dataset", ds.id, name=ds.name)


# ------------------------------------------------------------------ resources


def _auth_resource_create(ctx: Context, *, dataset: str, **_: Any) -> bool:
    return _auth_edit(ctx, dataset=dataset)


def _clean_format(fmt: Any) -> str | None:
    if fmt is None or fmt == "":
        return None
    fmt = str(fmt).strip().lower().lstrip(".")
    if not re.match(r"^[a-z0-9+.-]{1,32}$", fmt):
        raise invalid(("Định dạng không hợp lệ.", "Invalid format."), field="format")
    return fmt


@authz.action("resource.create", scope="write", auth=_auth_resource_create)
def resource_create(ctx: Context, *, dataset: str, name: str, url: str | None = None, description: str | None = None,
                    format: str | None = None) -> Resource:
    """Add a resource (a link, or an empty slot that an upload fills) to a dataset."""
    ds = get_dataset(ctx, dataset)
    if url is not None:
        url = nfc(url)
        if url and not re.match(r"^(https?|ftp)://", url):
            raise invalid(("Đường dẫn phải bắt đầu bằng http(s):// hoặc ftp://.",
                           "A link must start with http(s):// or ftp://."), field="url")
    position = ctx.db.execute(select(func.count()).select_from(Resource).where(
        Resource.dataset_id == ds.id)).scalar_one()
    res = Resource(dataset_id=ds.id, name=required_text(name, "name", 500), url=url or None,
                   description=nfc(description), format=_clean_format(format), position=position)
    ctx.db.add(res)
    ds.modified_at = utcnow()
    ctx.db.flush()
    ctx.audit("resource.create", "resource", res.id, dataset=ds.name, name=res.name)
    return res


@authz.action("resource.show", scope="read", auth=_auth_resource_read)
def resource_show(ctx: Context, *, resource_id: str) -> tuple[Resource, ResourceVersion | None]:
    """One resource with its current lake version."""
    res, ds = get_resource(ctx, resource_id)
    version = ctx.db.get(ResourceVersion, res.current_version_id) if res.current_version_id else None
    audit_read(ctx, ds, "resource.show", "resource", res.id)
    return res, version


@authz.action("resource.update", scope="write", auth=_auth_resource_edit)
def resource_update(ctx: Context, *, resource_id: str, name: str | None = None, description: str | None = None,
                    format: str | None = None, url: str | None = None,
                    schema_overrides: dict[str, str] | None = None) -> Resource:
    """Change a resource's metadata, or the column types the next ingest must use."""
    res, ds = get_resource(ctx, resource_id)
    if name is not None:
        res.name = required_text(name, "name", 500)
    if description is not None:
        res.description = nfc(description)
    if format is not None:
        res.format = _clean_format(format)
    if url is not None:
        res.url = nfc(url) or None
    if schema_overrides is not None:
        if not isinstance(schema_overrides, dict) or any(t not in COLUMN_TYPES for t in schema_overrides.values()):
            raise invalid(("Kiểu cột không hợp lệ.", "Invalid column type."), field="schema_overrides",
                          allowed=sorted(COLUMN_TYPES))
        res.schema_overrides = {required_text(k, "column", 300): v for k, v in schema_overrides.items()}
    res.modified_at = ds.modified_at = utcnow()
    ctx.db.flush()
    ctx.audit("resource.update", "resource", res.id, dataset=ds.name)
    return res


@authz.action("resource.delete", scope="write", auth=_auth_resource_edit)
def resource_delete(ctx: Context, *, resource_id: str) -> None:
    """Delete a resource (its lake versions stay for the audit trail)."""
    res, ds = get_resource(ctx, resource_id)
    res.state = "deleted"
    ds.modified_at = utcnow()
    ctx.db.flush()
    ctx.audit("resource.delete", "resource", res.id, dataset=ds.name)


@authz.action("resource.upload", scope="write", auth=_auth_resource_edit)
def resource_upload(ctx: Context, *, resource_id: str, stream: BinaryIO, filename: str,
                    fmt: str | None = None) -> ResourceVersion:
    """Store an uploaded file as the resource's next version and start ingesting it into the lake.

    The file is streamed to storage (never held in memory) and hashed on the way; the version stays
    invisible to readers until the ingest job publishes it.
    """
    res, ds = get_resource(ctx, resource_id)
    number = (ctx.db.execute(select(func.max(ResourceVersion.number)).where(
        ResourceVersion.resource_id == res.id)).scalar() or 0) + 1
    version = ResourceVersion(resource_id=res.id, number=number, status="pending", created_by=ctx.actor.user_id,
                              original_name=safe_filename(filename), format=_clean_format(fmt))
    ctx.db.add(version)
    ctx.db.flush()
    key = f"lake/{ds.id}/{res.id}/v{number}-{version.id[:8]}/original/{version.original_name}"
    version.size, version.sha256, _head = put_hashed(ctx.platform.storage, key, stream)
    version.original_key = key
    if version.size == 0:
        ctx.platform.storage.delete(key)
        raise invalid(("Tệp tải lên rỗng.", "The uploaded file is empty."), field="upload")
    job = jobs.submit.unchecked(ctx, kind="data.ingest", params={"version_id": version.id},
                                title=f"Nạp dữ liệu / Ingest: {res.name[:200]}")
    version.job_id = job.id
    if not res.format and fmt:
        res.format = _clean_format(fmt)
    res.url_type = "upload"
    ctx.db.flush()
    ctx.audit("resource.upload", "resource", res.id, dataset=ds.name, version=number, size=version.size,
              sha256=version.sha256, job_id=job.id)
    return version


@authz.action("resource.versions", scope="read", auth=_auth_resource_read)
def resource_versions(ctx: Context, *, resource_id: str) -> list[ResourceVersion]:
    """Every version of a resource, newest first, with ingest status and errors."""
    res, ds = get_resource(ctx, resource_id)
    audit_read(ctx, ds, "resource.versions", "resource", res.id)
    return list(ctx.db.execute(select(ResourceVersion).where(ResourceVersion.resource_id == res.id)
                               .order_by(ResourceVersion.number.desc())).scalars())
