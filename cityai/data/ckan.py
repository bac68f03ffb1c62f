"""The CKAN-compatible Action API: ``/api/3/action/{name}`` (and ``/api/action/{name}``, which ckanapi calls).

Tools written for CKAN portals (the ``ckanapi`` client, harvesters, scripts) keep working: each action
takes its parameters from the query string (GET), a JSON body or a form (POST; ``multipart/form-data``
for file uploads), and answers CKAN's envelope ``{"help", "success", "result"}`` or
``{"help", "success": false, "error": {"__type", "message", <field>: [...]}}``.

Every action calls the catalog, datastore and lake service functions, whose ``@authz.action``
declarations decide who may do what: nothing here grants or checks access on its own. CKAN's words map
to ours: an *organization* is an agency (its ``name`` is the agency code), a *package* a dataset, a
*group* a theme; ``private`` is visibility ``private`` (false: ``public``), and ``visibility: shared``
is our extension for data shared between agencies by grant.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

import cityai
from cityai.core import authz, identity
from cityai.core.context import Context
from cityai.core.errors import Problem, invalid, not_found
from cityai.data import catalog, datastore, lake
from cityai.data.models import Dataset, Resource, ResourceVersion

log = logging.getLogger("cityai.ckan")
router = APIRouter(tags=["ckan"])

CKAN_VERSION = "2.10.4"
API_VERSION = 3
SITE_TITLE = "CityAI – Cổng dữ liệu dùng chung TP. Hồ Chí Minh"
EXTENSIONS = ["cityai", "datastore", "dcat"]
MAX_ROWS = 1000  # package_search rows, as CKAN's ckan.search.rows_max
MAX_RECORDS = 100_000  # records in one datastore_create / datastore_upsert request

# Our column types <-> the CKAN datastore's.
TO_CKAN_TYPE = {"integer": "int", "number": "numeric", "boolean": "bool", "date": "date",
                "timestamp": "timestamp", "text": "text", "geometry": "text"}
FROM_CKAN_TYPE = {"int": "integer", "int2": "integer", "int4": "integer", "int8": "integer", "integer": "integer",
                  "bigint": "integer", "smallint": "integer", "float": "number", "float4": "number",
                  "float8": "number", "numeric": "number", "number": "number", "double": "number",
                  "real": "number", "decimal": "number", "bool": "boolean", "boolean": "boolean",
                  "date": "date", "timestamp": "timestamp", "timestamptz": "timestamp", "datetime": "timestamp",
                  "text": "text", "varchar": "text", "string": "text", "json": "text", "time": "text"}
# Our types as DuckDB types, for an empty table made from `fields` alone.
DUCKDB_TYPE = {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
               "timestamp": "TIMESTAMP", "text": "VARCHAR"}


class CkanError(Exception):
    """An error in CKAN's own terms (for the few that are not service-layer problems)."""

    def __init__(self, status: int, type_: str | None, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.fields = status, type_, message, fields


def search_error(message: str) -> CkanError:
    return CkanError(409, "Search Query Error", f"Search Query Error: {message}")


@dataclass
class Call:
    """One action call: its parameters, uploaded files, and where the site is."""

    params: dict[str, Any]
    files: dict[str, UploadFile]
    base: str  # e.g. http://127.0.0.1:8000 (no trailing slash)
    locale: str = "vi"
    extra: dict[str, Any] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return key in self.params and self.params[key] is not None


ActionFn = Callable[[Context, Call], Any]
ACTIONS: dict[str, tuple[ActionFn, bool]] = {}


def ckan_action(name: str, *, write: bool = False) -> Callable[[ActionFn], ActionFn]:
    def deco(fn: ActionFn) -> ActionFn:
        ACTIONS[name] = (fn, write)
        return fn
    return deco


# ------------------------------------------------------------------ parameters


def _missing(key: str) -> Problem:
    return invalid((f"Thiếu giá trị '{key}'.", f"Missing value: '{key}'."), field=key)


def _bad(key: str, vi: str, en: str) -> Problem:
    return invalid((f"'{key}': {vi}", f"'{key}': {en}"), field=key)


def p_str(call: Call, key: str, *, required: bool = False, default: str | None = None,
          max_len: int = 100_000) -> str | None:
    v = call.params.get(key)
    if v is None or v == "":
        if required:
            raise _missing(key)
        return default
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise _bad(key, "phải là chuỗi.", "must be a string.")
    if len(v) > max_len:
        raise _bad(key, f"dài quá {max_len} ký tự.", f"exceeds {max_len} characters.")
    return v


def p_int(call: Call, key: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    v = call.params.get(key)
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        raise _bad(key, "phải là số nguyên.", "must be an integer.")
    if isinstance(v, str):
        if not re.fullmatch(r"\s*-?\d{1,12}\s*", v):
            raise _bad(key, "phải là số nguyên.", "must be an integer.")
        v = int(v)
    if not isinstance(v, int):
        raise _bad(key, "phải là số nguyên.", "must be an integer.")
    if v < minimum or (maximum is not None and v > maximum):
        raise _bad(key, f"phải từ {minimum} đến {maximum}.", f"must be between {minimum} and {maximum}.")
    return v


def p_bool(call: Call, key: str, default: bool) -> bool:
    v = call.params.get(key)
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "1", "yes", "on", "t", "y"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "0", "no", "off", "f", "n"):
        return False
    raise _bad(key, "phải là true hoặc false.", "must be true or false.")


def p_json(call: Call, key: str, kinds: tuple[type, ...]) -> Any:
    """A structured parameter: as sent in a JSON body, or JSON text in a query string or form field."""
    v = call.params.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            raise _bad(key, "không phải JSON hợp lệ.", "is not valid JSON.") from None
    if not isinstance(v, kinds):
        names = " hoặc ".join(k.__name__ for k in kinds)
        raise _bad(key, f"phải là {names}.", f"must be a {' or '.join(k.__name__ for k in kinds)}.")
    return v


def p_list(call: Call, key: str) -> list[Any] | None:
    """A list: a JSON list, JSON text of one, or comma-separated text."""
    v = call.params.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            return p_json(call, key, (list,))
        return [x.strip() for x in s.split(",") if x.strip()]
    if not isinstance(v, list):
        raise _bad(key, "phải là danh sách.", "must be a list.")
    return v


def _ref(call: Call, *keys: str) -> str:
    for k in keys:
        v = call.params.get(k)
        if v not in (None, ""):
            if not isinstance(v, (str, int)) or isinstance(v, bool):
                raise _bad(k, "phải là chuỗi.", "must be a string.")
            return str(v)
    raise _missing(keys[0])


# ------------------------------------------------------------------ CKAN dictionaries


def _ts(value: dt.datetime | None) -> str | None:
    """CKAN's timestamps: ISO 8601 in UTC without an offset."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat()


def org_dict(agency: Any, *, package_count: int | None = None, full: bool = True) -> dict[str, Any]:
    out = {"id": str(agency.id), "name": agency.code, "title": agency.name, "display_name": agency.name,
           "type": "organization", "is_organization": True, "state": "active", "image_url": "",
           "approval_status": "approved"}
    if full:
        out.update({"title_en": agency.name_en, "description": agency.description or "",
                    "created": _ts(getattr(agency, "created_at", None)), "agency_kind": agency.kind,
                    "parent_id": str(agency.parent_id) if agency.parent_id is not None else None})
    if package_count is not None:
        out["package_count"] = package_count
    return out


def download_url(base: str, resource_id: str) -> str:
    return f"{base}/api/v1/data/resources/{resource_id}/download"


def resource_dict(r: Resource, base: str, version: ResourceVersion | None = None) -> dict[str, Any]:
    upload = r.url_type == "upload"
    out = {
        "id": r.id,
        "package_id": r.dataset_id,
        "name": r.name,
        "description": r.description or "",
        "format": (r.format or "").upper(),
        "url": download_url(base, r.id) if upload else (r.url or ""),
        "url_type": "upload" if upload else None,
        "datastore_active": r.current_version_id is not None,
        "position": r.position,
        "state": "active",
        "created": _ts(r.created_at),
        "last_modified": _ts(r.modified_at),
        "mimetype": None,
        "size": None,
        "hash": "",
    }
    if version is not None:
        out.update({"size": version.size, "hash": f"sha256:{version.sha256}" if version.sha256 else "",
                    "last_modified": _ts(version.published_at) or out["last_modified"],
                    "version": version.number, "original_name": version.original_name,
                    "encoding": version.encoding, "warnings": list(version.warnings or []),
                    "tables": [{"name": t["name"], "rows": t["rows"]} for t in (version.tables or [])]})
    return out


def package_dict(ds: Dataset, base: str) -> dict[str, Any]:
    tags = list(ds.tags or [])
    extras = dict(ds.extras or {})
    resources = [resource_dict(r, base) for r in ds.resources]
    return {
        "id": ds.id,
        "name": ds.name,
        "title": ds.title,
        "notes": ds.notes or "",
        "type": "dataset",
        "state": ds.state,
        "private": ds.visibility != "public",
        "visibility": ds.visibility,
        "owner_org": str(ds.owner_id),
        "organization": org_dict(ds.owner, full=False) | {"description": ds.owner.description or ""},
        "license_id": ds.license_id or "",
        "license_title": ds.license_id or "",
        "maintainer": ds.contact_name,
        "maintainer_email": ds.contact_email,
        "author": None,
        "author_email": None,
        "url": "",
        "version": None,
        "metadata_created": _ts(ds.created_at),
        "metadata_modified": _ts(ds.modified_at),
        "tags": [{"name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in tags],
        "num_tags": len(tags),
        "extras": [{"key": k, "value": v} for k, v in sorted(extras.items())],
        "groups": ([{"name": ds.theme, "title": ds.theme, "display_name": ds.theme, "description": "",
                     "image_display_url": ""}] if ds.theme else []),
        "resources": resources,
        "num_resources": len(resources),
        "relationships_as_object": [],
        "relationships_as_subject": [],
        "isopen": ds.visibility == "public" and bool(ds.license_id),
        # DCAT-AP fields of the catalog (CKAN "scheming"-style top-level keys)
        "title_en": ds.title_en,
        "notes_en": ds.notes_en,
        "theme": ds.theme,
        "frequency": ds.frequency,
        "spatial": list(ds.spatial or []),
        "temporal_start": ds.temporal_start,
        "temporal_end": ds.temporal_end,
    }


# ------------------------------------------------------------------ CKAN input -> catalog fields

# package fields taken as they are (CKAN name -> catalog name)
PACKAGE_FIELDS = {"title": "title", "notes": "notes", "license_id": "license_id", "title_en": "title_en",
                  "notes_en": "notes_en", "theme": "theme", "frequency": "frequency", "spatial": "spatial",
                  "temporal_start": "temporal_start", "temporal_end": "temporal_end",
                  "maintainer": "contact_name", "maintainer_email": "contact_email",
                  "contact_name": "contact_name", "contact_email": "contact_email"}
# what a full replace (package_update) resets when the caller leaves it out
PACKAGE_DEFAULTS: dict[str, Any] = {"notes": None, "license_id": None, "title_en": None, "notes_en": None,
                                    "theme": None, "frequency": None, "spatial": [], "temporal_start": None,
                                    "temporal_end": None, "contact_name": None, "contact_email": None,
                                    "tags": [], "extras": {}}


def _agency_ref(ctx: Context, ref: Any, key: str = "owner_org") -> Any:
    """An agency by code or by id (CKAN's organization name or id)."""
    if ref is None or ref == "" or isinstance(ref, bool) or not isinstance(ref, (str, int)):
        raise _missing(key)
    agency = identity.agency_by_code(ctx, str(ref).strip().lower()) if isinstance(ref, str) else None
    if agency is None and re.fullmatch(r"\d{1,12}", str(ref).strip()):
        try:
            agency = identity.agency_show(ctx, agency_id=int(str(ref).strip()))
        except Problem:
            agency = None
    if agency is None:
        raise invalid((f"Không có đơn vị '{ref}'.", f"Organization '{ref}' does not exist."), field=key)
    return agency


def _visibility(call: Call, current: Dataset | None = None) -> str | None:
    """``visibility`` (ours) and ``private`` (CKAN's). A client that round-trips package_show sends both:
    when they disagree, the one that differs from the dataset's present state is the change meant."""
    vis = call.params.get("visibility")
    vis = str(vis) if vis not in (None, "") else None
    private = p_bool(call, "private", False) if call.has("private") and call.params["private"] != "" else None
    from_private = None if private is None else ("private" if private else "public")
    if vis is None or from_private is None:
        return vis or from_private
    if (vis != "public") == private:
        return vis  # they agree (private: true with visibility shared or private)
    if current is not None and vis == current.visibility:
        return from_private
    return vis


def package_fields(ctx: Context, call: Call, *, replace: bool, current: Dataset | None = None) -> dict[str, Any]:
    """Catalog keyword arguments from a CKAN package dict (unknown CKAN keys are ignored, as CKAN does)."""
    p = call.params
    out: dict[str, Any] = dict(PACKAGE_DEFAULTS) if replace else {}
    for ckan_key in ("maintainer", "maintainer_email"):  # our names win over CKAN's when both are sent
        if ckan_key in p:
            out[PACKAGE_FIELDS[ckan_key]] = p[ckan_key] if p[ckan_key] != "" else None
    for ckan_key, ours in PACKAGE_FIELDS.items():
        if ckan_key in p and ckan_key not in ("maintainer", "maintainer_email"):
            value = p[ckan_key]
            out[ours] = None if value == "" and ours not in ("title",) else value
    if "spatial" in out and isinstance(out["spatial"], str) and out["spatial"].strip().startswith("["):
        out["spatial"] = p_json(Call({"spatial": out["spatial"]}, {}, call.base), "spatial", (list,))
    if "tags" in p:
        tags = p_json(call, "tags", (list,)) if isinstance(p["tags"], str) else p["tags"]
        out["tags"] = tags or []
    elif "tag_string" in p:
        out["tags"] = [t.strip() for t in str(p["tag_string"]).split(",") if t.strip()]
    if "extras" in p:
        extras = p_json(call, "extras", (list, dict)) if isinstance(p["extras"], str) else p["extras"]
        out["extras"] = extras or {}
    if "theme" not in p and "groups" in p:
        groups = p_json(call, "groups", (list,)) if isinstance(p["groups"], str) else p["groups"]
        names = [g.get("name") if isinstance(g, dict) else g for g in (groups or [])]
        out["theme"] = next((n for n in names if isinstance(n, str) and n), None)
    vis = _visibility(call, current)
    if vis is not None:
        out["visibility"] = vis
    if replace or "title" in p:
        title = p.get("title")
        if title in (None, ""):  # CKAN: the title defaults to the name
            out["title"] = p.get("name") or (current.name if current is not None else None)
    if "owner_org" in p and p["owner_org"] not in (None, ""):
        out["owner_id"] = _agency_ref(ctx, p["owner_org"]).id
    return out


def resource_fields(item: dict[str, Any], *, base: str = "", resource_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("name", "description", "format"):
        if key in item and item[key] is not None:
            if not isinstance(item[key], str):
                raise _bad(key, "phải là chuỗi.", "must be a string.")
            out[key] = item[key]
    url = item.get("url")
    if isinstance(url, str) and url:
        # our own download link, sent back by a client that round-trips package_show: not a new link
        if not (resource_id and url.rstrip("/").endswith(f"/api/v1/data/resources/{resource_id}/download")):
            out["url"] = url
    elif url not in (None, ""):
        raise _bad("url", "phải là chuỗi.", "must be a string.")
    return out


def _default_resource_name(fields: dict[str, Any], filename: str | None = None) -> str:
    if fields.get("name"):
        return fields["name"]
    if filename:
        return filename
    url = fields.get("url") or ""
    tail = PurePosixPath(url.split("?", 1)[0]).name if url else ""
    return tail or "Tài nguyên"


def _format_from_name(filename: str | None) -> str | None:
    if not filename or "." not in filename:
        return None
    ext = filename.rsplit(".", 1)[1].lower()
    return ext if ext in catalog.FORMATS or ext in ("tsv", "xls", "jsonl", "ndjson") else None


# ------------------------------------------------------------------ site


@ckan_action("site_read")
def site_read(ctx: Context, call: Call) -> bool:
    """Whether the caller may read the site (always true: the catalog has open data)."""
    return True


@ckan_action("status_show")
def status_show(ctx: Context, call: Call) -> dict[str, Any]:
    """The site's title, URL, CKAN version it is compatible with, and extensions."""
    return {"site_title": SITE_TITLE, "site_description": "Nền tảng AI dùng chung - dữ liệu mở và chia sẻ",
            "site_url": call.base, "ckan_version": CKAN_VERSION, "api_version": API_VERSION,
            "cityai_version": cityai.__version__, "locale_default": ctx.platform.settings.default_locale,
            "error_emails_to": None, "extensions": list(EXTENSIONS)}


@ckan_action("help_show")
def help_show(ctx: Context, call: Call) -> str:
    """The documentation of an action (``name``)."""
    name = p_str(call, "name", required=True, max_len=100)
    entry = ACTIONS.get(name or "")
    if entry is None:
        raise not_found(("thao tác", "action"), name)
    return (entry[0].__doc__ or "").strip()


# ------------------------------------------------------------------ packages (datasets)


def _show_package(ctx: Context, call: Call, ds: Dataset) -> dict[str, Any]:
    ctx.db.flush()
    ctx.db.expire(ds, ["resources"])  # resources created in this unit of work
    return package_dict(ds, call.base)


@ckan_action("package_list")
def package_list(ctx: Context, call: Call) -> list[str]:
    """Names of the datasets the caller may see (``limit``, ``offset``)."""
    limit = p_int(call, "limit", 1_000_000, maximum=1_000_000)
    offset = p_int(call, "offset", 0)
    found = catalog.dataset_search(ctx, sort="name_asc", limit=limit, offset=offset)
    return [d.name for d in found["results"]]


SORTS = {("metadata_modified", "desc"): "modified_desc", ("metadata_modified", "asc"): "modified_asc",
         ("title_string", "asc"): "title_asc", ("title_string", "desc"): "title_desc",
         ("title", "asc"): "title_asc", ("title", "desc"): "title_desc", ("name", "asc"): "name_asc",
         ("metadata_created", "desc"): "created_desc"}
FQ_FIELDS = {"organization": "owner", "owner_org": "owner", "tags": "tags", "res_format": "res_format",
             "license_id": "license_id", "theme": "theme", "groups": "theme", "visibility": "visibility",
             "capacity": "visibility"}
FACETS = {"organization": "owner", "tags": "tags", "res_format": "res_format", "license_id": "license_id",
          "groups": "theme", "theme": "theme", "visibility": "visibility", "frequency": "frequency"}
FQ_TERM = re.compile(r'\s*(\+?)([A-Za-z_][\w.]*):("(?:[^"\\]|\\.)*"|[^\s"]+)\s*')


def _parse_fq(ctx: Context, fq: str) -> tuple[dict[str, Any], bool]:
    """CKAN/Solr filter terms ``field:value`` or ``field:"value"``, ANDed. (filters, impossible?)"""
    filters: dict[str, Any] = {}
    impossible = False
    pos = 0
    fq = fq.strip()
    while pos < len(fq):
        m = FQ_TERM.match(fq, pos)
        if not m:
            raise search_error(f"cannot parse fq at {fq[pos:pos + 40]!r}; use field:value or field:\"value\" terms")
        pos = m.end()
        name, value = m.group(2), m.group(3)
        if value.startswith('"'):
            value = re.sub(r'\\(.)', r"\1", value[1:-1])
        if name in ("dataset_type", "type") and value == "dataset":
            continue
        if name == "state" and value == "active":
            continue
        if name not in FQ_FIELDS:
            raise search_error(f"unsupported fq field '{name}'; supported: {', '.join(sorted(FQ_FIELDS))}")
        ours = FQ_FIELDS[name]
        if name == "owner_org":
            value = _agency_ref(ctx, value, "fq").code
        if ours == "visibility" and name == "capacity":
            value = {"public": "public", "private": "private"}.get(value, value)
        if ours == "tags":
            filters.setdefault("tags", []).append(value)
        elif ours in filters and filters[ours] != value:
            impossible = True  # two different values ANDed: nothing matches
        else:
            filters[ours] = value
    return filters, impossible


def _sort(value: str | None) -> str:
    if not value:
        return "modified_desc"
    for part in value.split(","):
        bits = part.split()
        if not bits:
            continue
        key = (bits[0], (bits[1] if len(bits) > 1 else "asc").lower())
        if key[0] == "score":
            continue
        if key not in SORTS:
            raise search_error(f"unsupported sort '{part.strip()}'; supported: "
                               + ", ".join(f"{f} {d}" for f, d in SORTS))
        return SORTS[key]
    return "modified_desc"


def _facets(ctx: Context, counts: dict[str, dict[str, int]], asked: list[str], limit: int) -> tuple[dict, dict]:
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    names: dict[str, str] = {}
    if "organization" in asked and counts.get("owner"):
        names = {a.code: a.name for a in identity.agency_list(ctx, limit=100_000)[0] if a.code in counts["owner"]}
    for f in asked:
        ours = FACETS.get(f)
        values = dict(counts.get(ours, {})) if ours else {}
        if f == "res_format":
            merged: dict[str, int] = {}
            for k, v in values.items():
                merged[k.upper()] = merged.get(k.upper(), 0) + v
            values = merged
        items = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        if limit >= 0:
            items = items[:limit]
        facets[f] = dict(items)
        search_facets[f] = {"title": f, "items": [
            {"name": k, "display_name": names.get(k, k) if f == "organization" else k, "count": n}
            for k, n in items]}
    return facets, search_facets


@ckan_action("package_search")
def package_search(ctx: Context, call: Call) -> dict[str, Any]:
    """Search datasets: ``q``, ``fq`` (field:value terms, ANDed), ``rows``, ``start``, ``sort``, ``facet.field``.

    fq fields: organization, tags, res_format, license_id, theme (or groups), visibility (or capacity).
    As in CKAN, only public datasets are returned unless ``include_private`` is true; then every dataset
    the caller may see (shared and private ones included).
    """
    q = p_str(call, "q", max_len=1000)
    fq = p_str(call, "fq", max_len=4000) or ""
    rows = p_int(call, "rows", 10, maximum=MAX_ROWS)
    start = p_int(call, "start", 0, maximum=10_000_000)
    sort_text = p_str(call, "sort", max_len=200) or "score desc, metadata_modified desc"
    sort = _sort(sort_text)
    asked = [str(f) for f in (p_list(call, "facet.field") or [])]
    facet_limit = p_int(call, "facet.limit", 50, minimum=-1, maximum=10_000)
    include_private = p_bool(call, "include_private", False)
    text = None
    if q and q.strip() not in ("*:*", "*", ""):
        if FQ_TERM.fullmatch(q.strip()) and q.split(":", 1)[0].strip().lstrip("+") in FQ_FIELDS:
            fq = f"{fq} {q}"  # q=tags:xyz, as Solr reads it
        else:
            text = q.strip()
    filters, impossible = _parse_fq(ctx, fq)
    if not include_private:
        if filters.get("visibility", "public") != "public":
            impossible = True
        filters["visibility"] = "public"
    wanted = sorted({FACETS[f] for f in asked if f in FACETS})
    if impossible:
        return {"count": 0, "results": [], "sort": sort_text, "facets": {f: {} for f in asked},
                "search_facets": {f: {"title": f, "items": []} for f in asked}}
    found = catalog.dataset_search(ctx, q=text, owner=filters.get("owner"), tags=filters.get("tags"),
                                   theme=filters.get("theme"), visibility=filters.get("visibility"),
                                   license_id=filters.get("license_id"), res_format=filters.get("res_format"),
                                   sort=sort, limit=rows, offset=start, facets=wanted)
    facets, search_facets = _facets(ctx, found["facets"], asked, facet_limit)
    return {"count": found["count"], "sort": sort_text, "results": [package_dict(d, call.base) for d in found["results"]],
            "facets": facets, "search_facets": search_facets}


@ckan_action("package_show")
def package_show(ctx: Context, call: Call) -> dict[str, Any]:
    """One dataset (``id``: its id or name) with its resources."""
    ds = catalog.dataset_show(ctx, dataset=_ref(call, "id", "name_or_id", "name"))
    return package_dict(ds, call.base)


def _sync_resources(ctx: Context, call: Call, ds: Dataset, items: Any) -> None:
    """CKAN's rule for ``resources`` in package_update/patch: update those with an id, add the others,
    delete the dataset's resources left out."""
    if isinstance(items, str):
        items = p_json(Call({"resources": items}, {}, call.base), "resources", (list,))
    if not isinstance(items, list) or any(not isinstance(i, dict) for i in items):
        raise _bad("resources", "phải là danh sách đối tượng.", "must be a list of objects.")
    existing = {r.id for r in ds.resources}
    kept: set[str] = set()
    for item in items:
        rid = item.get("id")
        if isinstance(rid, str) and rid in existing:
            catalog.resource_update(ctx, resource_id=rid, **resource_fields(item, resource_id=rid))
            kept.add(rid)
        else:
            fields = resource_fields(item)
            fields["name"] = _default_resource_name(fields)
            catalog.resource_create(ctx, dataset=ds.id, **fields)
    for rid in existing - kept:
        catalog.resource_delete(ctx, resource_id=rid)


@ckan_action("package_create", write=True)
def package_create(ctx: Context, call: Call) -> dict[str, Any]:
    """Create a dataset: name, title, notes, owner_org (agency code or id), private (or visibility:
    public/shared/private; private when neither is given), tags, extras, license_id, resources."""
    name = p_str(call, "name", max_len=200)
    fields = package_fields(ctx, call, replace=False)
    owner_id = fields.pop("owner_id", None)
    if owner_id is None and not ctx.actor.is_anonymous:
        raise _missing("owner_org")  # anonymous callers get the action's own refusal instead
    if name is None and not ctx.actor.is_anonymous:
        raise _missing("name")
    fields.setdefault("title", name)
    ds = catalog.dataset_create(ctx, name=name or "", owner_id=owner_id, **fields)
    if call.params.get("resources"):
        _sync_resources(ctx, call, ds, call.params["resources"])
    return _show_package(ctx, call, ds)


def _update(ctx: Context, call: Call, *, replace: bool) -> dict[str, Any]:
    ref = _ref(call, "id", "name")
    ds = catalog.get_dataset(ctx, ref)
    fields = package_fields(ctx, call, replace=replace, current=ds)
    if call.has("id") and call.has("name") and call.params["name"] != ds.name:
        fields["name"] = call.params["name"]  # renaming: id says which, name the new name
    if replace:
        fields.setdefault("title", ds.name)
    ds = catalog.dataset_update(ctx, dataset=ds.id, **fields)
    if "resources" in call.params and call.params["resources"] is not None:
        _sync_resources(ctx, call, ds, call.params["resources"])
    return _show_package(ctx, call, ds)


@ckan_action("package_update", write=True)
def package_update(ctx: Context, call: Call) -> dict[str, Any]:
    """Replace a dataset's metadata (``id`` or ``name``); fields left out are cleared, except visibility and
    owner_org, which stay as they are, and resources, which stay unless a ``resources`` list is given."""
    return _update(ctx, call, replace=True)


@ckan_action("package_patch", write=True)
def package_patch(ctx: Context, call: Call) -> dict[str, Any]:
    """Change only the given fields of a dataset (``id`` or ``name``)."""
    return _update(ctx, call, replace=False)


@ckan_action("package_delete", write=True)
def package_delete(ctx: Context, call: Call) -> None:
    """Delete a dataset (``id``: id or name); it is kept as deleted, with its files and audit history."""
    catalog.dataset_delete(ctx, dataset=_ref(call, "id", "name"))
    return None


# ------------------------------------------------------------------ resources


@ckan_action("resource_show")
def resource_show(ctx: Context, call: Call) -> dict[str, Any]:
    """One resource (``id``), with its current datastore version."""
    res, version = catalog.resource_show(ctx, resource_id=_ref(call, "id"))
    return resource_dict(res, call.base, version)


def _upload(ctx: Context, call: Call, res: Resource, fmt: str | None) -> ResourceVersion | None:
    upload = call.files.get("upload")
    if upload is None:
        return None
    filename = upload.filename or "upload"
    fmt = fmt or _format_from_name(filename)
    return catalog.resource_upload(ctx, resource_id=res.id, stream=upload.file, filename=filename, fmt=fmt)


@ckan_action("resource_create", write=True)
def resource_create(ctx: Context, call: Call) -> dict[str, Any]:
    """Add a resource to a dataset (``package_id``): a link (``url``) or a file (multipart ``upload``),
    which is ingested into the datastore in the background (``datastore_active`` turns true when ready)."""
    package_id = _ref(call, "package_id")
    fields = resource_fields(call.params)
    upload = call.files.get("upload")
    if upload is not None:
        fields.pop("url", None)
        fields["format"] = fields.get("format") or _format_from_name(upload.filename)
    fields["name"] = _default_resource_name(fields, upload.filename if upload is not None else None)
    res = catalog.resource_create(ctx, dataset=package_id, **fields)
    _upload(ctx, call, res, fields.get("format"))
    ctx.db.flush()
    return resource_dict(res, call.base)


@ckan_action("resource_update", write=True)
def resource_update(ctx: Context, call: Call) -> dict[str, Any]:
    """Change a resource (``id``): name, description, format, url; a new ``upload`` makes a new version."""
    rid = _ref(call, "id")
    fields = resource_fields(call.params, resource_id=rid)
    if call.files.get("upload") is not None:
        fields.pop("url", None)
    res = catalog.resource_update(ctx, resource_id=rid, **fields)
    _upload(ctx, call, res, fields.get("format") or res.format)
    ctx.db.flush()
    return resource_dict(res, call.base)


@ckan_action("resource_delete", write=True)
def resource_delete(ctx: Context, call: Call) -> None:
    """Delete a resource (``id``)."""
    catalog.resource_delete(ctx, resource_id=_ref(call, "id"))
    return None


# ------------------------------------------------------------------ organizations, groups, tags


def _visible_counts(ctx: Context, facet: str) -> dict[str, int]:
    return catalog.dataset_search(ctx, limit=0, facets=[facet])["facets"].get(facet, {})


def _page(items: list[Any], call: Call) -> list[Any]:
    limit = p_int(call, "limit", 1000, maximum=1_000_000)
    offset = p_int(call, "offset", 0)
    return items[offset: offset + limit]


@ckan_action("organization_list")
def organization_list(ctx: Context, call: Call) -> list[Any]:
    """Agencies, by code (``all_fields`` for dicts with package_count; ``sort``: name, title, package_count)."""
    agencies, _total = identity.agency_list(ctx, limit=1_000_000)
    wanted = p_list(call, "organizations")
    if wanted:
        keys = {str(w).lower() for w in wanted}
        agencies = [a for a in agencies if a.code in keys or str(a.id) in keys]
    counts = _visible_counts(ctx, "owner")
    sort = (p_str(call, "sort", max_len=100) or "name asc").split()
    key_name, direction = sort[0], (sort[1].lower() if len(sort) > 1 else "asc")
    keys_by = {"name": lambda a: a.code, "title": lambda a: a.name.lower(),
               "package_count": lambda a: counts.get(a.code, 0)}
    if key_name not in keys_by:
        raise _bad("sort", "chỉ hỗ trợ name, title, package_count.", "supported: name, title, package_count.")
    agencies = sorted(agencies, key=keys_by[key_name], reverse=direction == "desc")
    agencies = _page(agencies, call)
    if p_bool(call, "all_fields", False):
        return [org_dict(a, package_count=counts.get(a.code, 0)) for a in agencies]
    return [a.code for a in agencies]


@ckan_action("organization_show")
def organization_show(ctx: Context, call: Call) -> dict[str, Any]:
    """One agency (``id``: code or id); ``include_datasets`` adds its datasets the caller may see."""
    ref = _ref(call, "id")
    agency = identity.agency_by_code(ctx, ref.strip().lower())
    if agency is None:
        if not re.fullmatch(r"\d{1,12}", ref.strip()):
            raise not_found(("đơn vị", "organization"), ref)
        agency = identity.agency_show(ctx, agency_id=int(ref))
    found = catalog.dataset_search(ctx, owner=agency.code, sort="name_asc", limit=MAX_ROWS,
                                   visibility=None)
    out = org_dict(agency, package_count=found["count"])
    if p_bool(call, "include_datasets", False):
        out["packages"] = [package_dict(d, call.base) for d in found["results"]]
    out["users"] = []
    return out


@ckan_action("group_list")
def group_list(ctx: Context, call: Call) -> list[Any]:
    """Themes in use by datasets the caller may see, as CKAN groups (``all_fields`` for dicts)."""
    counts = _visible_counts(ctx, "theme")
    names = _page(sorted(counts), call)
    if p_bool(call, "all_fields", False):
        return [{"id": n, "name": n, "title": n, "display_name": n, "description": "", "type": "group",
                 "is_organization": False, "state": "active", "package_count": counts[n], "image_url": ""}
                for n in names]
    return names


@ckan_action("tag_list")
def tag_list(ctx: Context, call: Call) -> list[Any]:
    """Tags of datasets the caller may see (``query``: only tags containing it; ``all_fields`` for dicts)."""
    tags = sorted(_visible_counts(ctx, "tags"))
    query = p_str(call, "query", max_len=200)
    if query:
        tags = [t for t in tags if query.lower() in t.lower()]
    if p_bool(call, "all_fields", False):
        return [{"id": t, "name": t, "vocabulary_id": None} for t in tags]
    return tags


# ------------------------------------------------------------------ datastore


def _ckan_fields(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": c["name"], "type": TO_CKAN_TYPE.get(c["type"], c["type"])} for c in columns]


@ckan_action("datastore_search")
def datastore_search(ctx: Context, call: Call) -> dict[str, Any]:
    """Rows of a resource's table: ``resource_id``, ``filters`` (column: value or list), ``q`` (text),
    ``plain_accents`` (ignore Vietnamese diacritics in q), ``fields``, ``sort``, ``limit``, ``offset``,
    ``include_total``, ``records_format`` (objects or lists). ``plain`` is accepted; q is always plain text."""
    rid = _ref(call, "resource_id", "id")
    filters = p_json(call, "filters", (dict,))
    q = call.params.get("q")
    if isinstance(q, dict):
        raise _bad("q", "chỉ hỗ trợ chuỗi tìm kiếm (không hỗ trợ tìm theo từng cột).",
                   "only a text query is supported (not a per-field dict).")
    q = p_str(call, "q", max_len=500)
    p_bool(call, "plain", True)  # CKAN's plain=false (full-text query syntax) reads q as plain text here
    if p_bool(call, "distinct", False):
        raise _bad("distinct", "không được hỗ trợ.", "is not supported.")
    fmt = p_str(call, "records_format", default="objects", max_len=20)
    if fmt not in ("objects", "lists"):
        raise _bad("records_format", "chỉ hỗ trợ objects hoặc lists.", "supported: objects, lists.")
    fields = p_list(call, "fields")
    limit = p_int(call, "limit", 100, maximum=datastore.MAX_LIMIT)
    offset = p_int(call, "offset", 0, maximum=100_000_000)
    include_total = p_bool(call, "include_total", True)
    sort = call.params.get("sort")
    if isinstance(sort, list):
        sort = ",".join(str(s) for s in sort)
    sort = sort if sort not in (None, "") else None
    if sort is not None and not isinstance(sort, str):
        raise _bad("sort", "phải là chuỗi.", "must be a string.")
    found = datastore.datastore_search(
        ctx, resource_id=rid, filters=filters, q=q, plain_accents=p_bool(call, "plain_accents", False),
        fields=[str(f) for f in fields] if fields else None, sort=sort, limit=limit, offset=offset,
        include_total=include_total, table=p_str(call, "table", max_len=200))
    records = found["records"]
    if fmt == "lists":
        names = [f["id"] for f in found["fields"]]
        records = [[r.get(n) for n in names] for r in records]
    link_params = {k: (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                   for k, v in call.params.items() if k != "offset" and v is not None}
    start = "/api/3/action/datastore_search?" + urlencode(sorted(link_params.items()))
    nxt = "/api/3/action/datastore_search?" + urlencode(sorted({**link_params, "offset": str(offset + limit)}.items()))
    out = {
        "resource_id": found["resource_id"],
        "fields": [{"id": f["id"], "type": TO_CKAN_TYPE.get(f["type"], f["type"])} for f in found["fields"]],
        "records": records,
        "records_format": fmt,
        "limit": limit,
        "offset": offset,
        "include_total": include_total,
        "_links": {"start": start, "next": nxt},
    }
    if include_total:
        out["total"] = found["total"]
        out["total_was_estimated"] = False
    for key in ("filters", "q", "sort"):
        if call.has(key):
            out[key] = call.params[key]
    return out


# ---- the datastore write path: JSON records -> a new lake version, published within the request


def _auth_datastore_write(ctx: Context, *, resource_id: str, **_: Any) -> bool:
    return catalog._auth_resource_edit(ctx, resource_id=resource_id)


def _sql_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _clean_records(records: Any) -> list[dict[str, Any]]:
    if records is None:
        return []
    if not isinstance(records, list) or any(not isinstance(r, dict) for r in records):
        raise _bad("records", "phải là danh sách đối tượng.", "must be a list of objects.")
    if len(records) > MAX_RECORDS:
        raise _bad("records", f"tối đa {MAX_RECORDS} bản ghi mỗi lần.", f"at most {MAX_RECORDS} records per call.")
    out = []
    for r in records:
        row = {}
        for k, v in r.items():
            if not isinstance(k, str) or not k.strip() or k.startswith("_"):
                raise invalid((f"Tên cột không hợp lệ: {k!r}.", f"Invalid field name: {k!r}."), field="records")
            row[k] = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
        out.append(row)
    return out


def _clean_fields(fields: Any) -> list[dict[str, str]]:
    if fields is None:
        return []
    if not isinstance(fields, list) or any(not isinstance(f, dict) or not isinstance(f.get("id"), str)
                                           for f in fields):
        raise _bad("fields", "phải là danh sách {\"id\", \"type\"}.", 'must be a list of {"id", "type"}.')
    out = []
    for f in fields:
        name = f["id"].strip()
        if not name or name.startswith("_"):
            raise invalid((f"Tên cột không hợp lệ: {name!r}.", f"Invalid field name: {name!r}."), field="fields")
        ckan_type = str(f.get("type") or "text").lower()
        if ckan_type.startswith("_"):  # CKAN array types ("_text"): kept as JSON text
            ckan_type = "json"
        ours = FROM_CKAN_TYPE.get(ckan_type)
        if ours is None:
            raise invalid((f"Kiểu cột '{ckan_type}' không được hỗ trợ.", f"Unsupported field type '{ckan_type}'."),
                          field="fields", allowed=sorted(FROM_CKAN_TYPE))
        out.append({"id": name, "type": ours})
    return out


def _key_list(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        return list(value)
    raise _bad("primary_key", "phải là tên cột hoặc danh sách tên cột.", "must be a field name or a list of them.")


@contextmanager
def _workdir(ctx: Context):
    tmp_root = ctx.platform.settings.home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="datastore-") as work:
        yield Path(work)


def _write_jsonl(path: Path, records: list[dict[str, Any]], order: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            row = {k: r[k] for k in order if k in r}
            row.update({k: v for k, v in r.items() if k not in row})
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def _duck(threads: int = 1) -> Any:
    import duckdb

    return duckdb.connect(config={"threads": threads, "memory_limit": "512MB"})


def _engine_error(exc: Exception) -> Problem:
    msg = str(exc).split("\n", 1)[0][:500]
    return invalid((f"Dữ liệu không khớp kiểu cột: {msg}", f"The records do not fit the table's types: {msg}"),
                   field="records")


@authz.action("datastore.write", scope="write", auth=_auth_datastore_write)
def datastore_write(ctx: Context, *, resource_id: str, records: list[dict[str, Any]] | None = None,
                    fields: list[dict[str, str]] | None = None, method: str = "insert",
                    primary_key: list[str] | None = None) -> ResourceVersion | None:
    """Add rows to a resource's table, or replace those with the same key (a new version, published at once).

    ``method``: ``insert`` appends (every field must exist in the table), ``upsert`` replaces the rows
    whose key matches a record and appends the rest, ``update`` is upsert where every key must exist.
    Without a table yet, the records (typed by ``fields``) make the first version. Returns the new
    version, or None when there was nothing to write.
    """
    from cityai.data import ingest

    if method not in ("insert", "upsert", "update"):
        raise invalid(("method phải là insert, upsert hoặc update.", "method must be insert, upsert or update."),
                      field="method")
    res, _ds = catalog.get_resource(ctx, resource_id)
    # one writer at a time per resource (PostgreSQL row lock; SQLite's write lock already serialises)
    ctx.db.execute(select(Resource.id).where(Resource.id == res.id).with_for_update())
    rows = _clean_records(records)
    typed = _clean_fields(fields)
    tables = lake.current_tables(ctx, res)
    current = tables[0] if tables else None
    keys = list(primary_key or []) or list((current or {}).get("primary_key") or [])
    if len({f["id"] for f in typed}) != len(typed):
        raise invalid(("Trùng tên cột trong 'fields'.", "Duplicate field names in 'fields'."), field="fields")

    with _workdir(ctx) as work:
        if current is None:
            if method != "insert":
                raise Problem(404, "not-found", ("Không tìm thấy", "Not found"),
                              ("Tài nguyên chưa có bảng dữ liệu; hãy dùng datastore_create.",
                               "The resource has no datastore table yet; use datastore_create."))
            if not rows and not typed:
                raise invalid(("Cần 'fields' hoặc 'records'.", "Give 'fields' or 'records'."), field="fields")
            names = [f["id"] for f in typed] + sorted({k for r in rows for k in r} - {f["id"] for f in typed})
            missing = [k for k in keys if k not in names]
            if missing:
                raise invalid((f"Khóa chính không phải là cột: {', '.join(missing)}.",
                               f"Primary key fields are not fields: {', '.join(missing)}."), field="primary_key")
            _check_keys(rows, keys)
            schema = {f["id"]: f["type"] for f in typed}
            if rows:
                src, fmt, filename = work / "records.jsonl", "json", "datastore.jsonl"
                _write_jsonl(src, rows, names)
            else:  # fields alone: an empty table with those columns
                src, fmt, filename = work / "records.parquet", "parquet", "datastore.parquet"
                con = _duck()
                try:
                    cols = ", ".join(f"{_sql_quote(f['id'])} {DUCKDB_TYPE[f['type']]}" for f in typed)
                    con.execute(f"CREATE TABLE t ({cols})")
                    con.execute(f"COPY t TO {_sql_str(str(src))} (FORMAT parquet)")
                finally:
                    con.close()
        else:
            if not rows:
                return None
            columns = [c["name"] for c in current["columns"]]
            unknown = sorted({k for r in rows for k in r} - set(columns))
            new_typed = [f["id"] for f in typed if f["id"] not in columns]
            if unknown or new_typed:
                bad = sorted(set(unknown) | set(new_typed))
                raise invalid((f"Các cột không có trong bảng: {', '.join(bad)} (bảng có: {', '.join(columns)}).",
                               f"Fields not in the table: {', '.join(bad)} (the table has: {', '.join(columns)})."),
                              field="records", fields=bad, available=columns)
            if method != "insert":
                if not keys:
                    raise invalid(("Bảng chưa có khóa chính: hãy gửi 'primary_key' (hoặc 'key').",
                                   "The table has no primary key: send 'primary_key' (or 'key')."),
                                  field="primary_key")
                missing = [k for k in keys if k not in columns]
                if missing:
                    raise invalid((f"Khóa chính không phải là cột: {', '.join(missing)}.",
                                   f"Primary key fields are not fields: {', '.join(missing)}."), field="primary_key")
                _check_keys(rows, keys)
            src, fmt, filename, schema = work / "merged.parquet", "parquet", "datastore.parquet", None
            _merge(ctx, current, rows, columns, keys, method, work, src)
        try:
            version = lake.ingest_now(ctx, res, src, filename=filename, fmt=fmt, schema=schema)
        except ingest.IngestError as exc:
            raise invalid((exc.vi, exc.en), field="records") from None
    if keys:
        version.tables = [dict(version.tables[0], primary_key=keys)] + list(version.tables[1:])
    ctx.audit("datastore.write", "resource", res.id, method=method, records=len(rows), version=version.number)
    return version


def _check_keys(rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not keys:
        return
    for i, r in enumerate(rows):
        absent = [k for k in keys if r.get(k) is None]
        if absent:
            raise invalid((f"Bản ghi {i} thiếu khóa: {', '.join(absent)}.", f"Record {i} lacks key fields: "
                           f"{', '.join(absent)}."), field="records")


def _merge(ctx: Context, current: dict[str, Any], rows: list[dict[str, Any]], columns: list[str],
           keys: list[str], method: str, work: Path, out: Path) -> None:
    """DuckDB over the current Parquet: the current rows (minus those replaced by key) + the new records."""
    import duckdb

    path = ctx.platform.storage.local_path(current["key"])
    con = _duck()
    try:
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                                 f"read_parquet({_sql_str(str(path))}))").fetchall())
        present = [c for c in columns if any(c in r for r in rows)]
        jsonl = work / "records.jsonl"
        _write_jsonl(jsonl, rows, present)
        col_spec = "{" + ", ".join(f"{_sql_str(c)}: {_sql_str(types[c])}" for c in present) + "}"
        con.execute(f"CREATE TEMP TABLE cur AS SELECT *, row_number() OVER () AS __pos "
                    f"FROM read_parquet({_sql_str(str(path))})")
        try:
            con.execute(f"CREATE TEMP TABLE new AS SELECT *, row_number() OVER () AS __npos FROM read_json("
                        f"{_sql_str(str(jsonl))}, format='newline_delimited', columns={col_spec})")
        except duckdb.Error as exc:
            raise _engine_error(exc) from None
        select_cols = ", ".join(_sql_quote(c) for c in columns)
        if method == "insert" or not keys:
            query = (f"SELECT {select_cols} FROM (SELECT {select_cols}, __pos AS __o FROM cur UNION ALL BY NAME "
                     f"SELECT * EXCLUDE (__npos), (SELECT count(*) FROM cur) + __npos AS __o FROM new) ORDER BY __o")
        else:
            match = " AND ".join(f"n.{_sql_quote(k)} IS NOT DISTINCT FROM c.{_sql_quote(k)}" for k in keys)
            part = ", ".join(_sql_quote(k) for k in keys)
            con.execute(f"CREATE TEMP TABLE newd AS SELECT * EXCLUDE (__rn) FROM (SELECT *, row_number() OVER "
                        f"(PARTITION BY {part} ORDER BY __npos DESC) AS __rn FROM new) WHERE __rn = 1")
            if method == "update":
                missing = con.execute(f"SELECT count(*) FROM newd n WHERE NOT EXISTS "
                                      f"(SELECT 1 FROM cur c WHERE {match})").fetchone()[0]
                if missing:
                    raise invalid((f"{missing} bản ghi không khớp khóa nào trong bảng.",
                                   f"{missing} records match no key in the table."), field="records")
            query = (f"SELECT {select_cols} FROM ("
                     f"SELECT {select_cols}, __pos AS __o FROM cur c WHERE NOT EXISTS (SELECT 1 FROM newd n WHERE {match}) "
                     f"UNION ALL BY NAME "
                     f"SELECT n.* EXCLUDE (__npos), coalesce((SELECT min(c.__pos) FROM cur c WHERE {match}), "
                     f"(SELECT count(*) FROM cur) + n.__npos) AS __o FROM newd n) ORDER BY __o")
        try:
            con.execute(f"COPY ({query}) TO {_sql_str(str(out))} (FORMAT parquet)")
        except duckdb.Error as exc:
            raise _engine_error(exc) from None
    finally:
        con.close()


def _datastore_result(ctx: Context, res: Resource, version: ResourceVersion | None, method: str,
                      keys: list[str]) -> dict[str, Any]:
    tables = lake.current_tables(ctx, res) if version is None else list(version.tables or [])
    t = tables[0] if tables else {"columns": [], "rows": 0}
    return {"resource_id": res.id, "method": method, "fields": _ckan_fields(t["columns"]),
            "primary_key": t.get("primary_key") or keys or None, "total": t.get("rows"),
            "version": version.number if version is not None else None}


@ckan_action("datastore_create", write=True)
def datastore_create(ctx: Context, call: Call) -> dict[str, Any]:
    """Create a resource's table from ``records`` typed by ``fields`` ([{"id", "type"}]), optionally with a
    ``primary_key``; ``resource`` (a dict with package_id, name ...) creates the resource first. On a
    resource that already has a table the records are appended."""
    resource = p_json(call, "resource", (dict,))
    if resource is not None:
        fields = resource_fields(resource)
        fields["name"] = fields.get("name") or "Datastore"
        fields.setdefault("format", "json")
        res = catalog.resource_create(ctx, dataset=_ref(Call(resource, {}, call.base), "package_id"), **fields)
        rid = res.id
    else:
        rid = _ref(call, "resource_id")
    keys = _key_list(call.params.get("primary_key"))
    version = datastore_write(ctx, resource_id=rid, records=p_json(call, "records", (list,)),
                              fields=p_json(call, "fields", (list,)), method="insert", primary_key=keys)
    res, _ds = catalog.get_resource(ctx, rid)
    return _datastore_result(ctx, res, version, "insert", keys)


@ckan_action("datastore_upsert", write=True)
def datastore_upsert(ctx: Context, call: Call) -> dict[str, Any]:
    """Write ``records`` to a resource's table; ``method``: upsert (default; needs the table's primary key,
    or ``primary_key``/``key``), insert (append) or update (every key must exist)."""
    rid = _ref(call, "resource_id", "id")
    method = p_str(call, "method", default="upsert", max_len=20)
    keys = _key_list(call.params.get("primary_key") or call.params.get("key"))
    version = datastore_write(ctx, resource_id=rid, records=p_json(call, "records", (list,)), method=method,
                              primary_key=keys)
    res, _ds = catalog.get_resource(ctx, rid)
    return _datastore_result(ctx, res, version, method or "upsert", keys)


@ckan_action("datastore_search_sql")
def datastore_search_sql(ctx: Context, call: Call) -> dict[str, Any]:
    """Read-only SQL over resources' tables (``sql``; a table is a resource id in double quotes). One
    statement, allow-listed functions, a time and a row limit; the caller must be able to read every
    resource the query names."""
    text = p_str(call, "sql", required=True, max_len=20_000)
    try:
        from cityai.data import sql as sqlmod
    except ImportError:
        raise CkanError(409, "Validation Error", "The SQL endpoint is not available on this server.",
                        sql=["The SQL endpoint is not available on this server."]) from None
    try:
        names = sorted(sqlmod.referenced_tables(text))
        paths: dict[str, Path] = {}
        for name in names:
            # the datastore's own read rule (the one datastore_search applies), refusals audited
            authz.check(ctx, "datastore.search", resource_id=name)
            res, ds, _tinfo, path = datastore.resolve_table(ctx, name)
            paths[name] = path
            catalog.audit_read(ctx, ds, "datastore.search_sql", "resource", res.id)
        settings = ctx.platform.settings
        result = sqlmod.run_sql(text, paths, timeout_s=settings.query_timeout_s, row_limit=settings.query_max_rows)
    except sqlmod.SqlError as exc:
        problem = exc.to_problem()
        problem.extra.setdefault("field", "sql")
        raise problem from None
    records = [dict(zip(result.columns, row)) for row in result.rows]
    out = {"sql": text, "records": records, "fields": [{"id": c, "type": _sql_type(t)}
                                                       for c, t in zip(result.columns, result.types)]}
    if result.truncated:
        out["records_truncated"] = True
    return out


def _sql_type(duck_type: str) -> str:
    t = (duck_type or "").upper()
    if t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"):
        return "int"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "numeric"
    if t == "BOOLEAN":
        return "bool"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return "text"


# ------------------------------------------------------------------ the HTTP endpoint


def _error_body(exc: Problem, locale: str) -> tuple[int, dict[str, Any]]:
    i = 1 if locale == "en" else 0
    message = exc.detail[i]
    if exc.status in (401, 403):
        return 403, {"__type": "Authorization Error", "message": message, "code": exc.code}
    if exc.status == 404:
        return 404, {"__type": "Not Found Error", "message": message, "code": exc.code}
    if 400 <= exc.status < 500:
        err: dict[str, Any] = {"__type": "Validation Error", "message": message}
        names = ([exc.extra["field"]] if exc.extra.get("field") else []) + list(exc.extra.get("fields") or [])
        for name in names:
            if str(name) not in ("__type", "message"):
                err.setdefault(str(name), [message])
        info = {k: v for k, v in exc.extra.items() if k not in ("field", "fields")}
        if info:
            err["info"] = info
        err["code"] = exc.code
        return (413 if exc.status == 413 else 409), err
    return exc.status, {"__type": "Internal Server Error", "message": message}


def _respond(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str, allow_nan=True), status_code=status,
                    media_type="application/json;charset=utf-8")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _read_params(request: Request) -> tuple[dict[str, Any], dict[str, UploadFile], Any]:
    if request.method == "GET":
        params: dict[str, Any] = {}
        for k, v in request.query_params.multi_items():
            if k in params:
                params[k] = (params[k] if isinstance(params[k], list) else [params[k]]) + [v]
            else:
                params[k] = v
        return params, {}, None
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        params, files = {}, {}
        for k, v in form.multi_items():
            if isinstance(v, UploadFile) or hasattr(v, "filename") and hasattr(v, "file"):
                files[k] = v
            else:
                params[k] = v
        return params, files, form
    body = await request.body()
    if not body.strip():
        return {}, {}, None
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError(f"Request data JSON decoded to {type(data).__name__} but a dictionary is required")
    return data, {}, None


def _run(request: Request, name: str, fn: ActionFn, write: bool, call: Call) -> Any:
    from cityai.web import deps

    with contextmanager(deps._unit_of_work)(request, write) as ctx:
        call.locale = ctx.locale
        return fn(ctx, call)


async def action_endpoint(name: str, request: Request) -> Response:
    """Call a CKAN action: GET with query parameters, or POST with a JSON body or a (multipart) form."""
    from cityai.web.deps import csrf_protect

    base = _base(request)
    help_url = f"{base}/api/3/action/help_show?name={name}"
    locale = getattr(request.state, "locale", "vi")
    entry = ACTIONS.get(name)
    if entry is None:
        return _respond(400, {"help": help_url, "success": False, "error": {
            "__type": "Bad Request", "message": f"Bad request - Action name not known: {name}"}})
    fn, write = entry
    form = None
    try:
        try:
            if request.method == "POST":
                await csrf_protect(request)
            params, files, form = await _read_params(request)
        except (ValueError, UnicodeDecodeError) as exc:
            return _respond(400, {"help": help_url, "success": False, "error": {
                "__type": "Bad Request", "message": f"Bad request - JSON Error: {exc}"}})
        call = Call(params=params, files=files, base=base, locale=locale)
        result = await run_in_threadpool(_run, request, name, fn, write, call)
    except Problem as exc:
        status, err = _error_body(exc, locale)
        return _respond(status, {"help": help_url, "success": False, "error": err})
    except CkanError as exc:
        err = {"__type": exc.type, "message": exc.message, **exc.fields} if exc.type else {"message": exc.message}
        return _respond(exc.status, {"help": help_url, "success": False, "error": err})
    except Exception:  # noqa: BLE001 - answered in CKAN's shape, logged with the request id
        log.exception("CKAN action failed", extra={"action": name,
                                                   "request_id": getattr(request.state, "request_id", None)})
        return _respond(500, {"help": help_url, "success": False, "error": {
            "__type": "Internal Server Error",
            "message": "Internal server error (request id "
                       f"{getattr(request.state, 'request_id', '?')})"}})
    finally:
        if form is not None:
            await form.close()
    return _respond(200, {"help": help_url, "success": True, "result": result})


for _method in ("GET", "POST"):
    router.add_api_route("/api/3/action/{name}", action_endpoint, methods=[_method], response_model=None,
                         summary=f"CKAN-compatible Action API ({_method})",
                         operation_id=f"ckan_action_{_method.lower()}")
    router.add_api_route("/api/action/{name}", action_endpoint, methods=[_method], include_in_schema=False,
                         response_model=None, operation_id=f"ckan_action_legacy_{_method.lower()}")
