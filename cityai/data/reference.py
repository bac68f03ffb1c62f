"""Reference data (administrative units) and the data module's demo datasets.

Three things live here:

* **The built-in list** ``reference_data/admin_units.json``: Viet Nam's 34 provinces and Ho Chi Minh
  City's 168 phường / xã / đặc khu of the 2025 two-level structure (codes and names only; no
  boundaries). It is generated once by ``scripts/make_reference_data.py`` from the shared
  administrative-units JSON, and read by the lookup functions below - fast, no database - so other
  modules can validate and resolve ward codes: :func:`ward_by_code`, :func:`find_ward`, :func:`wards`,
  :func:`provinces`, :func:`province_by_code`.
* **The import** :func:`import_admin_units` (``cityai data import-admin-units [PATH]``): one audited
  service action that puts the units into the catalog as the public reference dataset
  ``don-vi-hanh-chinh`` owned by the city (agency ``hcmc``), with three lake tables - provinces, HCMC
  wards and, when PATH holds ``hcmc_wards.geojson``, the ward boundaries (geometry column). Re-running
  publishes a new version of a table only when its generated file changed (sha256).
* **The demo** :func:`load_demo` (``cityai demo load``): the reference dataset, the city's hourly air
  quality (public), the health department's commune health stations (shared) and the construction
  department's building permits (private), all ingested synchronously.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import json
import os
import random
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import click
from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from cityai.core import authz, identity
from cityai.core.context import Context
from cityai.core.errors import Problem, invalid, not_found
from cityai.core.models import Agency
from cityai.data import catalog, lake
from cityai.data.models import Dataset, Resource, ResourceVersion

HERE = Path(__file__).resolve().parent
BUILTIN_PATH = HERE / "reference_data" / "admin_units.json"
REPO_ROOT = HERE.parents[1]
HCMC_PROVINCE = "79"
CITY_AGENCY = "hcmc"
DATASET_NAME = "don-vi-hanh-chinh"
SHARED_ENV = "CITYAI_SHARED_DATA"  # folder holding admin-units/ and aqi-hcmc/ (default: ../shared/data)
FULL_JSON_GLOB = "full_json_generated_data_vn_units_*.json"
WARDS_GEOJSON = "hcmc_wards.geojson"
UNIT_TYPES = {"phường": ("Phường", "Ward"), "xã": ("Xã", "Commune"), "đặc khu": ("Đặc khu", "Special zone")}
WARD = ("phường, xã", "ward")
PROVINCE = ("tỉnh, thành phố", "province")


# ------------------------------------------------------------------ text folding


def fold(text: str) -> str:
    """Lower case, no Vietnamese marks, đ -> d, punctuation as spaces, numbers without leading zeros.

    ``"P. Sài Gòn"`` -> ``"p sai gon"``; ``"Thanh Hoá"`` and ``"Thanh Hóa"`` fold alike.
    """
    text = unicodedata.normalize("NFD", (text or "").lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").replace("đ", "d")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = re.sub(r"\b0+(\d)", r"\1", text)
    return " ".join(text.split())


def slug(text: str) -> str:
    """An ASCII slug: ``"Hồ Chí Minh"`` -> ``"ho-chi-minh"``."""
    return fold(text).replace(" ", "-")


# Unit-type prefixes people write before a name, folded, longest first: (prefix, type it implies).
_PREFIXES: tuple[tuple[str, str | None], ...] = (
    ("dac khu", "đặc khu"), ("phuong", "phường"), ("thi tran", None), ("xa", "xã"), ("dk", "đặc khu"),
    ("p", "phường"), ("x", "xã"), ("tt", None),
)
_PROVINCE_PREFIXES = ("thanh pho truc thuoc trung uong", "thanh pho", "tinh", "tp")


def _strip_prefix(folded: str, prefixes: Iterable[tuple[str, str | None]]) -> tuple[str, str | None]:
    for prefix, kind in prefixes:
        if folded.startswith(prefix + " ") and len(folded) > len(prefix) + 1:
            return folded[len(prefix) + 1:], kind
    return folded, None


# ------------------------------------------------------------------ the built-in list


def find_full_json(folder: Path | None) -> Path | None:
    """The newest ``full_json_generated_data_vn_units_*.json`` in ``folder`` (None when there is none)."""
    if folder is None or not Path(folder).is_dir():
        return None
    found = sorted(Path(folder).glob(FULL_JSON_GLOB))
    return found[-1] if found else None


def units_from_full_json(data: list[dict[str, Any]]) -> dict[str, Any]:
    """Provinces and HCMC's units, names and codes only, from the shared full JSON (a list of provinces)."""
    provinces, hcmc = [], []
    for p in data:
        provinces.append({
            "code": p["Code"], "name": p["Name"], "full_name": p["FullName"], "name_en": p.get("NameEn"),
            "slug": slug(p["Name"]), "type": (p.get("AdministrativeUnitShortName") or "").lower() or None,
        })
        if p["Code"] != HCMC_PROVINCE:
            continue
        for w in p.get("Wards") or []:
            hcmc.append({
                "code": w["Code"], "name": w["Name"], "full_name": w["FullName"], "name_en": w.get("NameEn"),
                "slug": slug(w["Name"]), "type": (w.get("AdministrativeUnitShortName") or "").lower(),
                "province_code": w.get("ProvinceCode") or HCMC_PROVINCE,
            })
    provinces.sort(key=lambda r: r["code"])
    hcmc.sort(key=lambda r: r["code"])
    return {"structure": "2025", "provinces": provinces, "hcmc_wards": hcmc}


def dump_units(units: dict[str, Any]) -> str:
    """The list as JSON text, one unit per line (small, and readable in a diff)."""
    def rows(items: list[dict]) -> str:
        return "[\n" + ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in items) + "\n]"

    head = {k: v for k, v in units.items() if k not in ("provinces", "hcmc_wards")}
    parts = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items()]
    parts += [f'"provinces": {rows(units["provinces"])}', f'"hcmc_wards": {rows(units["hcmc_wards"])}']
    return "{\n" + ",\n".join(parts) + "\n}\n"


@functools.lru_cache(maxsize=1)
def builtin_units() -> dict[str, Any]:
    """The shipped list (read once)."""
    with open(BUILTIN_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, Any]:
    units = builtin_units()
    by_code = {w["code"]: w for w in units["hcmc_wards"]}
    exact: dict[str, list[dict]] = {}
    folded: dict[str, list[dict]] = {}
    for w in units["hcmc_wards"]:
        for key in {unicodedata.normalize("NFC", w[k]).lower() for k in ("name", "full_name")}:
            exact.setdefault(key, []).append(w)
        for key in {fold(w["name"]), fold(w["full_name"])}:
            folded.setdefault(key, []).append(w)
    provinces = {p["code"]: p for p in units["provinces"]}
    pfold: dict[str, dict] = {}
    for p in units["provinces"]:
        for key in (fold(p["name"]), fold(p["full_name"]), fold(p.get("name_en") or ""), fold(p["slug"])):
            if key:
                pfold.setdefault(key, p)
    return {"by_code": by_code, "exact": exact, "folded": folded, "provinces": provinces, "pfold": pfold}


def wards() -> list[dict[str, Any]]:
    """HCMC's 168 phường / xã / đặc khu, by code.

    Each: code, name, full_name, name_en, slug, type (phường / xã / đặc khu), province_code.
    """
    return [dict(w) for w in builtin_units()["hcmc_wards"]]


def provinces() -> list[dict[str, Any]]:
    """Viet Nam's 34 provinces and centrally-run cities (code, name, full_name, name_en, slug, type)."""
    return [dict(p) for p in builtin_units()["provinces"]]


def _code(code: Any, width: int) -> str:
    text = str(code).strip() if code is not None else ""
    return text.zfill(width) if text.isdigit() else text


def ward_by_code(code: Any) -> dict[str, Any] | None:
    """An HCMC unit by its 5-digit code (``"26740"``, or ``26740``), or None."""
    w = _index()["by_code"].get(_code(code, 5))
    return dict(w) if w else None


def is_ward_code(code: Any) -> bool:
    """Whether ``code`` is the code of one of HCMC's 168 units."""
    return _code(code, 5) in _index()["by_code"]


def province_by_code(code: Any) -> dict[str, Any] | None:
    """A province by its 2-digit code (``"79"``), or None."""
    p = _index()["provinces"].get(_code(code, 2))
    return dict(p) if p else None


def find_province(name: str) -> dict[str, Any] | None:
    """A province by name, with or without marks or its "Tỉnh" / "Thành phố" / "TP." prefix."""
    key = fold(name or "")
    for prefix in _PROVINCE_PREFIXES:
        if key.startswith(prefix + " ") and fold(name) not in _index()["pfold"]:
            key = key[len(prefix) + 1:]
            break
    p = _index()["pfold"].get(key)
    return dict(p) if p else None


def _candidates(name: str) -> list[str]:
    """The text itself, then its first part: old addresses add the district ("Phường Sài Gòn, Quận 1")."""
    text = unicodedata.normalize("NFC", name or "").strip()
    out = [text]
    first = re.split(r"\s*(?:[,;(/]|\s-\s|\s–\s)\s*", text, maxsplit=1)[0].strip()
    if first and first != text:
        out.append(first)
    return out


def find_wards(name: str) -> list[dict[str, Any]]:
    """Every HCMC unit the name may mean (usually one; none when unknown). See :func:`find_ward`."""
    idx = _index()
    for text in _candidates(name):
        if not text:
            continue
        if hit := idx["exact"].get(text.lower()):
            return [dict(w) for w in hit]
        key = fold(text)
        if hit := idx["folded"].get(key):
            return [dict(w) for w in hit]
        bare, kind = _strip_prefix(key, _PREFIXES)
        if bare != key and (hit := idx["folded"].get(bare)):
            typed = [w for w in hit if kind is None or w["type"] == kind]
            return [dict(w) for w in (typed or hit)]
        if key.isdigit() and (w := ward_by_code(key)):
            return [w]
    return []


def find_ward(name: str) -> dict[str, Any] | None:
    """The HCMC unit a name means, or None when it is unknown or ambiguous.

    Marks and case are ignored when nothing matches exactly ("phuong sai gon" finds "Phường Sài Gòn",
    while "Xã Thạnh An" is told from "Xã Thanh An"), unit prefixes are optional or abbreviated ("P.",
    "P ", "X.", "ĐK"), and a trailing old district ("Phường Sài Gòn, Quận 1", "Phường Sài Gòn (Quận 1 cũ)")
    is ignored. A 5-digit code also works.
    """
    found = find_wards(name)
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------ where the shared data are


def shared_data_dir() -> Path | None:
    """The shared data folder: ``$CITYAI_SHARED_DATA``, else ``../shared/data`` next to the working
    directory or to the repository (or ``shared/data`` inside either), else None."""
    env = os.environ.get(SHARED_ENV)
    if env is not None:
        return Path(env) if env and Path(env).is_dir() else None
    for base in (Path.cwd(), REPO_ROOT):
        for candidate in (base.parent / "shared" / "data", base / "shared" / "data"):
            if candidate.is_dir():
                return candidate.resolve()
    return None


def default_admin_units_dir() -> Path | None:
    """``<shared>/admin-units`` when it exists."""
    base = shared_data_dir()
    folder = base / "admin-units" if base else None
    return folder if folder and folder.is_dir() else None


# ------------------------------------------------------------------ catalog helpers


def ensure_agency(ctx: Context, code: str) -> Agency:
    """The agency with ``code``; a demo agency (and its parents) is created when missing."""
    agency = identity.agency_by_code(ctx, code)
    if agency is not None:
        return agency
    from cityai.core.demo import AGENCIES

    spec = next((a for a in AGENCIES if a[0] == code), None)
    if spec is None:
        raise not_found(("đơn vị", "agency"), code)
    _code_, name, name_en, kind, parent = spec
    parent_id = ensure_agency(ctx, parent).id if parent else None
    return identity.agency_create(ctx, code=code, name=name, name_en=name_en, kind=kind, parent_id=parent_id)


def _dataset_any_state(ctx: Context, name: str) -> Dataset | None:
    return ctx.db.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()


def ensure_dataset(ctx: Context, name: str, owner: Agency, **meta: Any) -> tuple[Dataset, bool]:
    """The dataset named ``name`` (restored if it was deleted), created with ``meta`` when missing.

    An existing dataset's metadata is left as its stewards keep it.
    """
    ds = _dataset_any_state(ctx, name)
    if ds is None:
        return catalog.dataset_create(ctx, name=name, owner_id=owner.id, **meta), True
    if ds.state != "active":
        ds.state = "active"
        ctx.db.flush()
        ctx.audit("dataset.restore", "dataset", ds.id, name=ds.name)
    return ds, False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_table(ctx: Context, ds: Dataset, *, name: str, description: str, path: Path, filename: str,
                 fmt: str, schema: dict[str, str] | None = None) -> tuple[Resource, ResourceVersion, bool]:
    """Make ``path`` the current version of the dataset's resource ``name`` (created when missing).

    Ingested with :func:`cityai.data.lake.ingest_now` in the caller's transaction - unless the current
    version already has the same sha256, in which case nothing is written. Returns (resource, current
    version, whether a new version was published).
    """
    res = ctx.db.execute(select(Resource).where(Resource.dataset_id == ds.id, Resource.name == name,
                                                Resource.state == "active")).scalars().first()
    if res is None:
        res = catalog.resource_create(ctx, dataset=ds.name, name=name, description=description, format=fmt)
        if schema:
            catalog.resource_update(ctx, resource_id=res.id, schema_overrides=schema)
    digest = sha256_file(path)
    current = ctx.db.get(ResourceVersion, res.current_version_id) if res.current_version_id else None
    if current is not None and current.status == "ready" and current.sha256 == digest:
        return res, current, False
    version = lake.ingest_now(ctx, res, path, filename=filename, fmt=fmt,
                              schema=dict(res.schema_overrides or {}) or schema)
    return res, version, True


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    return count


def _workdir(ctx: Context) -> tempfile.TemporaryDirectory:
    root = ctx.platform.settings.home / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=root, prefix="reference-")


# ------------------------------------------------------------------ the admin-units import

REF_META: dict[str, Any] = {
    "title": "Đơn vị hành chính Việt Nam và TP. Hồ Chí Minh (2025)",
    "title_en": "Administrative units of Viet Nam and Ho Chi Minh City (2025)",
    "notes": ("Danh mục 34 tỉnh, thành phố và 168 phường, xã, đặc khu của TP. Hồ Chí Minh theo mô hình chính "
              "quyền địa phương hai cấp (từ 01/07/2025), kèm mã đơn vị hành chính và ranh giới phường, xã. "
              "Dữ liệu tham chiếu dùng chung để chuẩn hóa địa chỉ và liên kết dữ liệu theo địa bàn."),
    "notes_en": ("The 34 provinces and centrally-run cities of Viet Nam and the 168 wards, communes and "
                 "special zone of Ho Chi Minh City under the two-level local government (from 1 July 2025), "
                 "with their official codes and the ward boundaries. Shared reference data for address "
                 "normalisation and for joining data by area."),
    "visibility": "public",
    "tags": ["đơn vị hành chính", "phường xã", "ranh giới", "dữ liệu tham chiếu", "administrative units"],
    "theme": "hanh-chinh",
    "license_id": "MIT",
    "frequency": "irregular",
    "temporal_start": "2025-07-01",
    "contact_name": "Trung tâm Chuyển đổi số TP.HCM",
    "extras": {"source": "Tổng cục Thống kê (danhmuchanhchinh.nso.gov.vn); ranh giới: sapnhap.bando.com.vn; "
                         "qua thanglequoc/vietnamese-provinces-database (MIT)",
               "reference": "true"},
}
RES_PROVINCES = "Danh mục tỉnh, thành phố / Provinces and municipalities"
RES_WARDS = "Phường, xã, đặc khu TP.HCM / HCMC wards, communes and special zone"
RES_BOUNDARIES = "Ranh giới phường, xã TP.HCM / HCMC ward boundaries"
CODE_SCHEMA = {"code": "text", "province_code": "text"}


def _boundaries_geojson(src: Path, dst: Path, units: dict[str, Any]) -> int:
    """A compact, deterministic copy of the ward polygons with our column names; the feature count."""
    with open(src, encoding="utf-8-sig") as fh:
        doc = json.load(fh)
    by_code = {w["code"]: w for w in units["hcmc_wards"]}
    features = []
    for f in doc.get("features") or []:
        props = f.get("properties") or {}
        code = str(props.get("code") or f.get("id") or "")
        unit = by_code.get(code, {})
        features.append({"type": "Feature", "properties": {
            "code": code, "name": props.get("name") or unit.get("name"),
            "full_name": props.get("fullName") or unit.get("full_name"),
            "name_en": props.get("nameEn") or unit.get("name_en"), "type": unit.get("type"),
            "province_code": unit.get("province_code", HCMC_PROVINCE), "area_km2": props.get("areaKm2"),
        }, "geometry": f.get("geometry")})
    if not features:
        raise invalid((f"{src.name} không có đối tượng nào.", f"{src.name} holds no features."), field="path")
    features.sort(key=lambda f: f["properties"]["code"])
    with open(dst, "w", encoding="utf-8") as fh:
        json.dump({"type": "FeatureCollection", "features": features}, fh, ensure_ascii=False,
                  separators=(",", ":"))
    return len(features)


@authz.action("reference.import_admin_units", scope="write", auth=authz.sysadmin)
def import_admin_units(ctx: Context, *, source: str | None = None) -> dict[str, Any]:
    """Load Viet Nam's provinces and HCMC's wards (and boundaries) into the public reference dataset.

    ``source`` is a folder with the shared ``full_json_generated_data_vn_units_*.json`` and/or
    ``hcmc_wards.geojson``; without it (or without the JSON) the built-in list is used, and without the
    GeoJSON no boundaries are loaded. Idempotent: a table gets a new version only when its content changed.
    """
    started = time.perf_counter()
    folder = Path(source) if source else None
    if folder is not None and not folder.is_dir():
        raise invalid((f"Không có thư mục '{source}'.", f"No folder '{source}'."), field="path")
    full_json = find_full_json(folder)
    if full_json is not None:
        try:
            with open(full_json, encoding="utf-8-sig") as fh:
                units = units_from_full_json(json.load(fh))
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid((f"Tệp {full_json.name} không đúng cấu trúc: {exc}.",
                           f"{full_json.name} does not have the expected shape: {exc}."),
                          field="path") from None
    else:
        units = builtin_units()
    geojson = folder / WARDS_GEOJSON if folder is not None and (folder / WARDS_GEOJSON).is_file() else None
    owner = ensure_agency(ctx, CITY_AGENCY)
    ds, created = ensure_dataset(ctx, DATASET_NAME, owner, **REF_META)
    published: list[str] = []
    unchanged: list[str] = []
    boundaries = None
    with _workdir(ctx) as work:
        w = Path(work)
        n_prov = _write_csv(
            w / "tinh_thanh_pho.csv", ["code", "name", "full_name", "name_en", "slug", "type"],
            ([p["code"], p["name"], p["full_name"], p.get("name_en"), p["slug"], p.get("type")]
             for p in units["provinces"]))
        n_wards = _write_csv(w / "phuong_xa_hcmc.csv",
                             ["code", "name", "full_name", "name_en", "slug", "type", "province_code"],
                             ([u["code"], u["name"], u["full_name"], u.get("name_en"), u["slug"], u["type"],
                               u["province_code"]] for u in units["hcmc_wards"]))
        tables = [
            (RES_PROVINCES, "Mã, tên và loại của 34 tỉnh, thành phố (2025). / "
                            "Codes, names and kinds of the 34 provinces and municipalities (2025).",
             "tinh_thanh_pho.csv", "csv"),
            (RES_WARDS, "Mã, tên và loại (phường, xã, đặc khu) của 168 đơn vị cấp xã của TP.HCM. / "
                        "Codes, names and kinds of HCMC's 168 commune-level units.",
             "phuong_xa_hcmc.csv", "csv"),
        ]
        if geojson is not None:
            boundaries = _boundaries_geojson(geojson, w / "ranh_gioi_phuong_xa_hcmc.geojson", units)
            tables.append((RES_BOUNDARIES, "Ranh giới phường, xã, đặc khu của TP.HCM (GeoJSON, WGS 84; cột "
                                           "geometry). / Boundaries of HCMC's units (GeoJSON, WGS 84).",
                           "ranh_gioi_phuong_xa_hcmc.geojson", "geojson"))
        resources: dict[str, str] = {}
        for name, description, filename, fmt in tables:
            res, _version, new = ensure_table(ctx, ds, name=name, description=description, path=w / filename,
                                              filename=filename, fmt=fmt, schema=CODE_SCHEMA)
            resources[name] = res.id
            (published if new else unchanged).append(name)
    summary = {
        "dataset": ds.name, "dataset_id": ds.id, "created": created,
        "source": str(full_json) if full_json else "builtin",
        "boundaries_source": str(geojson) if geojson else None,
        "provinces": n_prov, "wards": n_wards, "boundaries": boundaries,
        "published": published, "unchanged": unchanged, "resources": resources,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if created or published:  # a re-import that changed nothing writes nothing, not even an audit entry
        ctx.audit("reference.import_admin_units", "dataset", ds.id, source=summary["source"],
                  boundaries_source=summary["boundaries_source"], provinces=n_prov, wards=n_wards,
                  boundaries=boundaries, published=published, unchanged=unchanged)
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What an import did, as lines to print."""
    lines = [f"Bộ dữ liệu / dataset {summary['dataset']}"
             + (" (mới tạo / created)" if summary["created"] else ""),
             f"  {summary['provinces']} tỉnh, thành phố / provinces; {summary['wards']} phường, xã, "
             f"đặc khu TP.HCM / HCMC wards; nguồn / source: {summary['source']}"]
    if summary["boundaries"] is None:
        lines.append("  Không nạp ranh giới (không có hcmc_wards.geojson) / no boundaries loaded "
                     "(no hcmc_wards.geojson)")
    else:
        lines.append(f"  {summary['boundaries']} ranh giới phường, xã / ward boundaries")
    lines.append(f"  Phiên bản mới / new versions: {len(summary['published'])}; không đổi / unchanged: "
                 f"{len(summary['unchanged'])} ({summary['seconds']} s)")
    return lines


@click.command("import-admin-units")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
def import_admin_units_cmd(path: Path | None) -> None:
    """Nạp đơn vị hành chính (34 tỉnh, 168 phường xã TP.HCM, ranh giới) / Import administrative units.

    PATH: a folder with full_json_generated_data_vn_units_*.json and/or hcmc_wards.geojson (default:
    ../shared/data/admin-units when it exists; otherwise the built-in list, without boundaries).
    """
    from cityai.cli import _fail, _platform

    if path is None:
        path = default_admin_units_dir()
    elif not path.is_dir():
        click.echo(f"Lỗi / Error: không có thư mục / no folder {path}", err=True)
        raise SystemExit(2)
    platform = _platform()
    try:
        with platform.system_context() as ctx:
            summary = import_admin_units(ctx, source=str(path) if path else None)
    except Problem as p:
        _fail(p)
    finally:
        platform.close()
    if path is None:
        click.echo("Không tìm thấy ../shared/data/admin-units: dùng danh mục có sẵn, không có ranh giới. / "
                   "../shared/data/admin-units not found: using the built-in list, without boundaries.")
    for line in summary_lines(summary):
        click.echo(line)


CLI_COMMANDS: list[Any] = [import_admin_units_cmd]


# ------------------------------------------------------------------ JSON routes (public facts, no database)

router = APIRouter(prefix="/api/v1/reference", tags=["reference"])


@router.get("/provinces")
def api_provinces() -> dict[str, Any]:
    """Viet Nam's 34 provinces and municipalities (2025)."""
    items = provinces()
    return {"items": items, "total": len(items), "limit": len(items), "offset": 0, "next": None}


@router.get("/wards")
def api_wards(request: Request, q: str | None = Query(default=None, max_length=200),
              limit: int = Query(default=200, ge=1, le=500),
              offset: int = Query(default=0, ge=0)) -> dict[str, Any]:
    """HCMC's 168 wards, communes and special zone; ``q`` filters by name (marks ignored) or code."""
    from cityai.web.pagination import offset_page

    items = wards()
    if q:
        key = fold(q)
        exact = find_wards(q)
        rest = [w for w in items
                if w not in exact and (key in fold(w["full_name"]) or w["code"].startswith(key))]
        items = exact + rest
    return offset_page(request, items[offset:offset + limit], len(items), limit, offset)


@router.get("/wards/{code}")
def api_ward(code: str) -> dict[str, Any]:
    """One HCMC ward by its code."""
    w = ward_by_code(code)
    if w is None:
        raise not_found(WARD, code)
    return w


# ------------------------------------------------------------------ the demo


def _demo_wards(n: int, seed: int) -> list[dict[str, Any]]:
    return random.Random(seed).sample(builtin_units()["hcmc_wards"], n)


AQI_COLUMNS = ["timestamp", "aqi", "pm25", "pm10", "o3", "no2", "so2", "co", "temperature_c", "humidity_pct",
               "wind_speed_kmh"]


def _number(text: str | None) -> str:
    m = re.search(r"-?\d+(?:\.\d+)?", text or "")
    return m.group(0) if m else ""


def _aqi_rows_from_shared(folder: Path) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for path in sorted(folder.glob("aqi_ho-chi-minh-city_*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for r in csv.DictReader(fh):
                try:
                    ts = dt.datetime.fromisoformat(r["timestamp"])
                except (KeyError, TypeError, ValueError):
                    continue
                local = ts.astimezone(dt.timezone(dt.timedelta(hours=7))) if ts.tzinfo else ts
                rows.append([local.strftime("%Y-%m-%d %H:%M:%S")]
                            + [_number(r.get(c)) for c in ("aqi", "pm25", "pm10", "o3", "no2", "so2", "co")]
                            + [_number(r.get("temperature")), _number(r.get("humidity")),
                               _number(r.get("wind_speed"))])
    rows.sort(key=lambda row: row[0])
    return rows


def _aqi_rows_generated(hours: int = 14 * 24) -> list[list[Any]]:
    """A deterministic fortnight of plausible hourly values (rush-hour peaks, humid nights)."""
    rnd = random.Random(79)
    start = dt.datetime(2025, 3, 1)
    rows = []
    for h in range(hours):
        t = start + dt.timedelta(hours=h)
        rush = 1.0 + 0.45 * (1 if t.hour in (7, 8, 9, 17, 18, 19) else 0)
        pm25 = round(max(5.0, rnd.gauss(24, 6) * rush), 1)
        aqi = int(round(pm25 * 2.4 + rnd.uniform(-4, 4)))
        temp = round(27 + 5 * max(0.0, 1 - abs(t.hour - 14) / 8) + rnd.uniform(-1, 1), 1)
        rows.append([t.strftime("%Y-%m-%d %H:%M:%S"), aqi, pm25, round(pm25 * 1.6, 1), "", "", "", "",
                     temp, int(90 - (temp - 25) * 4), round(rnd.uniform(5, 20), 1)])
    return rows


def _aqi_daily(rows: list[list[Any]]) -> list[list[Any]]:
    days: dict[str, list[list[Any]]] = {}
    for r in rows:
        days.setdefault(r[0][:10], []).append(r)

    def mean(values: list[Any]) -> Any:
        nums = [float(v) for v in values if v not in ("", None)]
        return round(sum(nums) / len(nums), 1) if nums else ""

    def maximum(values: list[Any]) -> Any:
        nums = [float(v) for v in values if v not in ("", None)]
        return round(max(nums), 1) if nums else ""

    return [[day, len(rs), mean([r[1] for r in rs]), maximum([r[1] for r in rs]), mean([r[2] for r in rs]),
             mean([r[8] for r in rs]), mean([r[9] for r in rs])] for day, rs in sorted(days.items())]


def _demo_reference(ctx: Context, shared: Path | None) -> list[str]:
    folder = shared / "admin-units" if shared and (shared / "admin-units").is_dir() else None
    summary = import_admin_units(ctx, source=str(folder) if folder else None)
    new = len(summary["published"])
    extra = "" if summary["boundaries"] is not None else ", không có ranh giới / no boundaries"
    return [f"  {summary['dataset']}: {summary['provinces']} tỉnh / provinces, "
            f"{summary['wards']} phường xã / wards"
            + (f", {summary['boundaries']} ranh giới / boundaries" if summary["boundaries"] else "") + extra
            + f" (công khai / public; {new} phiên bản mới / new versions)"]


def _demo_air_quality(ctx: Context, shared: Path | None, work: Path) -> list[str]:
    folder = shared / "aqi-hcmc" if shared and (shared / "aqi-hcmc").is_dir() else None
    rows = _aqi_rows_from_shared(folder) if folder else []
    real = bool(rows)
    if not real:
        rows = _aqi_rows_generated()
    daily = _aqi_daily(rows)
    meta = {
        "title": "Chất lượng không khí TP.HCM",
        "title_en": "Air quality in Ho Chi Minh City",
        "notes": ("Chỉ số chất lượng không khí (AQI, thang US EPA), nồng độ bụi mịn PM2.5, PM10 và các chất "
                  "ô nhiễm, cùng nhiệt độ, độ ẩm, tốc độ gió, theo giờ, cho toàn thành phố. Thời gian theo "
                  "giờ Việt Nam (UTC+7); ô trống: không có số liệu. Kèm bảng trung bình theo ngày."
                  + (" Nguồn: IQAir (iqair.com), thu thập bởi nguyennguyet02/iqair-dataset." if real
                     else " Dữ liệu mẫu sinh tự động cho bản trình diễn.")),
        "notes_en": ("Hourly air quality index (AQI, US EPA scale), fine particulate matter PM2.5, PM10 "
                     "and other pollutants, with temperature, humidity and wind speed, city-wide. Times in "
                     "Viet Nam time (UTC+7); empty cells: no reading. With a table of daily means."
                     + (" Source: IQAir (iqair.com), collected by nguyennguyet02/iqair-dataset." if real
                        else " Generated sample data for the demo.")),
        "visibility": "public",
        "tags": ["môi trường", "không khí", "AQI", "PM2.5", "quan trắc", "air quality"],
        "theme": "moi-truong",
        "license_id": "other-at" if real else "CC-BY-4.0",
        "frequency": "realtime",
        "spatial": [HCMC_PROVINCE],
        "temporal_start": rows[0][0][:10],
        "temporal_end": rows[-1][0][:10],
        "contact_name": "Phòng Quản lý Môi trường, Sở Nông nghiệp và Môi trường",
        "contact_email": "moitruong.snnmt@cityai.local",
        "extras": {"source": "IQAir" if real else "generated sample", "unit_aqi": "US AQI",
                   "license_note": ("Điều khoản sử dụng của IQAir / IQAir terms of use" if real
                                    else "Dữ liệu mẫu / sample data"),
                   "unit_pm25": "µg/m³"},
    }
    owner = ensure_agency(ctx, "snnmt")
    ds, created = ensure_dataset(ctx, "chat-luong-khong-khi-tphcm", owner, **meta)
    _write_csv(work / "aqi_theo_gio.csv", AQI_COLUMNS, rows)
    _write_csv(work / "aqi_theo_ngay.csv", ["date", "hours", "aqi_mean", "aqi_max", "pm25_mean",
                                            "temperature_c_mean", "humidity_pct_mean"], daily)
    hourly_schema = {c: "number" for c in AQI_COLUMNS[2:] if c != "humidity_pct"}
    new = 0
    for name, desc, filename, schema in (
        ("AQI và thời tiết theo giờ / Hourly AQI and weather",
         "Một dòng mỗi giờ đo (có khoảng trống). / One row per hourly reading (with gaps).",
         "aqi_theo_gio.csv", hourly_schema),
        ("AQI trung bình theo ngày / Daily mean AQI",
         "Trung bình và cực đại trong ngày. / Daily means and maxima.", "aqi_theo_ngay.csv", None),
    ):
        new += int(ensure_table(ctx, ds, name=name, description=desc, path=work / filename, filename=filename,
                                fmt="csv", schema=schema)[2])
    return [f"  {ds.name}: {len(rows)} giờ / hourly rows, {len(daily)} ngày / days "
            f"({'IQAir' if real else 'mẫu sinh / generated sample'}; công khai / public; "
            f"{new} phiên bản mới / new versions)"]


def _demo_health(ctx: Context, work: Path) -> list[str]:
    rnd = random.Random(115)
    units = sorted(_demo_wards(40, 1), key=lambda u: u["code"])
    rows = []
    for i, u in enumerate(units, 1):
        rows.append([f"TYT-{u['code']}", f"Trạm Y tế {u['full_name']}", "Trạm y tế", u["code"],
                     u["full_name"], rnd.randint(3, 10), rnd.randint(1, 4), rnd.randint(4, 14),
                     "có" if i % 3 == 0 else "không"])
    meta = {
        "title": "Cơ sở khám chữa bệnh: trạm y tế phường, xã",
        "title_en": "Health facilities: ward and commune health stations",
        "notes": ("Danh sách trạm y tế phường, xã với số giường lưu, số bác sĩ, số nhân viên y tế và việc "
                  "khám ngoài giờ. Chia sẻ cho các sở, ngành để điều phối y tế cơ sở. Dữ liệu mẫu cho bản "
                  "trình diễn."),
        "notes_en": ("Ward and commune health stations with observation beds, doctors, health workers and "
                     "out-of-hours service. Shared with other departments to coordinate primary care. Sample "
                     "data for the demo."),
        "visibility": "shared",
        "tags": ["y tế", "trạm y tế", "y tế cơ sở", "health"],
        "theme": "y-te",
        "license_id": "other-closed",
        "frequency": "quarterly",
        "spatial": [u["code"] for u in units],
        "temporal_start": "2025-07-01",
        "temporal_end": "2025-09-30",
        "contact_name": "Phòng Nghiệp vụ Y, Sở Y tế",
        "contact_email": "nghiepvuy.syt@cityai.local",
        "extras": {"sample": "true"},
    }
    ds, _created = ensure_dataset(ctx, "co-so-kham-chua-benh", ensure_agency(ctx, "syt"), **meta)
    _write_csv(work / "tram_y_te.csv", ["ma_co_so", "ten_co_so", "loai_hinh", "ma_phuong_xa", "ten_phuong_xa",
                                        "giuong_luu", "bac_si", "nhan_vien_y_te", "kham_ngoai_gio"], rows)
    new = int(ensure_table(ctx, ds, name="Trạm y tế phường, xã / Ward health stations",
                           description="Một dòng mỗi trạm y tế. / One row per health station.",
                           path=work / "tram_y_te.csv", filename="tram_y_te.csv", fmt="csv",
                           schema={"ma_phuong_xa": "text"})[2])
    return [f"  {ds.name}: {len(rows)} trạm y tế / health stations (chia sẻ / shared; {new} phiên bản mới / "
            "new versions)"]


def _demo_permits(ctx: Context, work: Path) -> list[str]:
    rnd = random.Random(2025)
    units = _demo_wards(24, 2)
    house = "Nhà ở riêng lẻ"
    kinds = [house, house, house, "Công trình thương mại", "Công trình công cộng"]
    rows = []
    day = dt.date(2025, 7, 1)
    for i in range(1, 121):
        u = rnd.choice(units)
        kind = rnd.choice(kinds)
        floors = rnd.randint(2, 6) if kind == house else rnd.randint(3, 20)
        area = round((rnd.uniform(60, 140) if kind == house else rnd.uniform(400, 1800)) * floors)
        day += dt.timedelta(days=rnd.choice((0, 0, 1, 1, 2)))
        rows.append([f"{i:04d}/GPXD-SXD", day.strftime("%d/%m/%Y"), u["code"], u["full_name"], kind, floors,
                     area, rnd.choice(("Đã cấp", "Đã cấp", "Đã cấp", "Điều chỉnh"))])
    meta = {
        "title": "Giấy phép xây dựng đã cấp (nội bộ)",
        "title_en": "Building permits issued (internal)",
        "notes": ("Sổ theo dõi giấy phép xây dựng do Sở cấp: số giấy phép, ngày cấp, địa bàn, loại công "
                  "trình, số tầng, tổng diện tích sàn. Chỉ dùng nội bộ Sở Xây dựng. Dữ liệu mẫu cho bản "
                  "trình diễn."),
        "notes_en": ("Register of building permits issued by the department: number, date, area, kind of "
                     "building, floors, total floor area. Internal to the Department of Construction. Sample "
                     "data for the demo."),
        "visibility": "private",
        "tags": ["xây dựng", "giấy phép", "building permits"],
        "theme": "xay-dung",
        "frequency": "daily",
        "spatial": sorted(u["code"] for u in units),
        "temporal_start": rows[0][1][6:] + "-" + rows[0][1][3:5] + "-" + rows[0][1][:2],
        "temporal_end": rows[-1][1][6:] + "-" + rows[-1][1][3:5] + "-" + rows[-1][1][:2],
        "contact_name": "Phòng Quản lý Hoạt động Xây dựng, Sở Xây dựng",
        "extras": {"sample": "true"},
    }
    ds, _created = ensure_dataset(ctx, "giay-phep-xay-dung", ensure_agency(ctx, "sxd"), **meta)
    _write_csv(work / "giay_phep_xay_dung.csv",
               ["so_giay_phep", "ngay_cap", "ma_phuong_xa", "ten_phuong_xa", "loai_cong_trinh", "so_tang",
                "dien_tich_san_m2", "trang_thai"], rows)
    new = int(ensure_table(ctx, ds, name="Giấy phép xây dựng 2025 / Building permits 2025",
                           description="Một dòng mỗi giấy phép. / One row per permit.",
                           path=work / "giay_phep_xay_dung.csv", filename="giay_phep_xay_dung.csv", fmt="csv",
                           schema={"ma_phuong_xa": "text"})[2])
    return [f"  {ds.name}: {len(rows)} giấy phép / permits (nội bộ / private; "
            f"{new} phiên bản mới / new versions)"]


DEMO_DATASETS = (DATASET_NAME, "chat-luong-khong-khi-tphcm", "co-so-kham-chua-benh", "giay-phep-xay-dung")


def load_demo(ctx: Context, shared: Path | None | bool = True) -> list[str]:
    """Idempotent demo datasets for the open-data portal; lines saying what was loaded.

    ``shared``: the shared data folder (``True``: look for it with :func:`shared_data_dir`; ``None``:
    use generated and built-in data only). Lines never contain '@' (the CLI reads those as logins).
    """
    started = time.perf_counter()
    folder = shared_data_dir() if shared is True else (shared or None)
    lines = ["Dữ liệu demo / demo datasets:"]
    lines += _demo_reference(ctx, folder)
    with _workdir(ctx) as work:
        lines += _demo_air_quality(ctx, folder, Path(work))
        lines += _demo_health(ctx, Path(work))
        lines += _demo_permits(ctx, Path(work))
    lines.append(f"  ({time.perf_counter() - started:.1f} s)")
    return lines
