"""A choropleth of a table keyed by ward codes, over HCMC's ward boundaries from the reference dataset.

A table "is keyed by ward" when one of its columns holds, in a sample of its rows, mostly codes of
HCMC's 168 units (``26734``; a leading zero may be missing). The map colours each ward by the mean of
the table's first numeric column (or by its row count when it has none), in five quantile classes.
The boundaries come from the public reference dataset (``cityai data import-admin-units``, with
``hcmc_wards.geojson``); without them there is no map. Everything is drawn server-side as SVG, so it
works offline and without JavaScript.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select

from cityai.data import reference
from cityai.data.datastore import _quote as _q
from cityai.data.models import Dataset, Resource, ResourceVersion

SAMPLE_ROWS = 1000
MIN_SHARE = 0.8  # of a sample's non-empty values that must be ward codes
PALETTE = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")  # ColorBrewer YlOrRd, 5 classes
NO_DATA = "#e5e7eb"
WIDTH, HEIGHT = 640, 560
# row numbers and codes are not values to map: "STT", "TT", "id", "mã ...", "code ..."
ROW_NUMBER = re.compile(r"^(stt|tt|so[ _]?tt|id|_id|ma\b|ma[ _]|code|.*[ _]id$)")


def boundaries_path(ctx: Any) -> Path | None:
    """The Parquet file of the published ward boundaries, or None when they were never imported."""
    ds = ctx.db.execute(select(Dataset).where(Dataset.name == reference.DATASET_NAME,
                                              Dataset.state == "active")).scalar_one_or_none()
    if ds is None or ds.visibility != "public":
        return None
    res = ctx.db.execute(select(Resource).where(Resource.dataset_id == ds.id, Resource.state == "active",
                                                Resource.name == reference.RES_BOUNDARIES)).scalar_one_or_none()
    if res is None or not res.current_version_id:
        return None
    version = ctx.db.get(ResourceVersion, res.current_version_id)
    if version is None or not version.tables:
        return None
    path = ctx.platform.storage.local_path(version.tables[0]["key"])
    return path if path.exists() else None


def code_column(path: Path, columns: list[dict[str, Any]]) -> str | None:
    """The column holding ward codes, judged on a sample of rows, or None."""
    candidates = [c["name"] for c in columns if c["type"] in ("text", "integer")]
    if not candidates:
        return None
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT {', '.join(_q(c) for c in candidates)} FROM read_parquet(?) LIMIT {SAMPLE_ROWS}",
                           [str(path)]).fetchall()
    finally:
        con.close()
    best, best_share = None, 0.0
    for i, name in enumerate(candidates):
        values = [r[i] for r in rows if r[i] is not None and str(r[i]).strip()]
        if not values:
            continue
        share = sum(1 for v in values if reference.is_ward_code(v)) / len(values)
        if share >= MIN_SHARE and share > best_share:
            best, best_share = name, share
    return best


@functools.lru_cache(maxsize=4)
def _projected(path_str: str, mtime: float) -> dict[str, Any]:
    """Ward outlines projected to SVG paths (cached per boundaries file): code -> (name, path)."""
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT code, name, geometry FROM read_parquet(?) WHERE geometry IS NOT NULL",
                           [path_str]).fetchall()
    finally:
        con.close()
    shapes = []
    for code, name, geometry in rows:
        try:
            geom = json.loads(geometry)
        except (TypeError, ValueError):
            continue
        polys = ([geom["coordinates"]] if geom.get("type") == "Polygon"
                 else geom.get("coordinates", []) if geom.get("type") == "MultiPolygon" else [])
        shapes.append((str(code).zfill(5), name, polys))
    if not shapes:
        return {}
    # Islands far out at sea (Côn Đảo lies ~180 km south) would shrink the city to a corner: they get
    # an inset box of their own at the bottom left.
    centres = {code: _centre(polys) for code, _n, polys in shapes}
    mid_x = sorted(c[0] for c in centres.values())[len(centres) // 2]
    mid_y = sorted(c[1] for c in centres.values())[len(centres) // 2]
    far = {code for code, (x, y) in centres.items() if abs(x - mid_x) > 0.6 or abs(y - mid_y) > 0.6}
    if len(far) == len(shapes):
        far = set()
    out: dict[str, Any] = {}
    main = [s for s in shapes if s[0] not in far]
    out.update(_project(main, 10, 10, WIDTH - 20, HEIGHT - 20))
    if far:
        out.update(_project([s for s in shapes if s[0] in far], 14, HEIGHT - 104, 90, 90))
        out["__inset__"] = (None, f"M10,{HEIGHT - 110} h100 v100 h-100 Z")
    return out


def _centre(polys: list) -> tuple[float, float]:
    pts = [p for poly in polys for ring in poly for p in ring]
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)) if pts else (0.0, 0.0)


def _project(shapes: list, left: float, top: float, width: float, height: float) -> dict[str, Any]:
    """Equirectangular projection of ``shapes`` fitted into the box; sub-pixel steps dropped."""
    pts = [p for _c, _n, polys in shapes for poly in polys for ring in poly for p in ring]
    if not pts:
        return {}
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    kx = math.cos(math.radians((y0 + y1) / 2))
    s = min(width / max((x1 - x0) * kx, 1e-9), height / max(y1 - y0, 1e-9))
    out: dict[str, Any] = {}
    for code, name, polys in shapes:
        rings = []
        for poly in polys:
            for ring in poly:
                d, last = [], None
                for p in ring:
                    xy = (round(left + (p[0] - x0) * kx * s, 1), round(top + height - (p[1] - y0) * s, 1))
                    if last is None or abs(xy[0] - last[0]) + abs(xy[1] - last[1]) >= 0.8:
                        d.append(f"{xy[0]},{xy[1]}")
                        last = xy
                if len(d) >= 3:
                    rings.append("M" + " L".join(d) + " Z")
        if rings:
            out[code] = (name, " ".join(rings))
    return out


def ward_map(ctx: Any, table: dict[str, Any]) -> dict[str, Any] | None:
    """The choropleth of ``table`` (a version's table info), or None when it is not keyed by ward or
    when no boundaries were imported."""
    columns = table.get("columns") or []
    if any(c["type"] == "geometry" for c in columns):
        return None  # a geometry table gets the feature map instead
    bpath = boundaries_path(ctx)
    if bpath is None:
        return None
    path = ctx.platform.storage.local_path(table["key"])
    code_col = code_column(path, columns)
    if code_col is None:
        return None
    value_col = next((c["name"] for c in columns if c["type"] in ("integer", "number") and c["name"] != code_col
                      and not ROW_NUMBER.match(reference.fold(c["name"]))), None)
    agg = f"avg({_q(value_col)})" if value_col else "count(*)"
    con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    try:
        rows = con.execute(f"SELECT lpad(CAST({_q(code_col)} AS VARCHAR), 5, '0') AS c, {agg} FROM read_parquet(?) "
                           f"WHERE {_q(code_col)} IS NOT NULL GROUP BY 1", [str(path)]).fetchall()
    finally:
        con.close()
    values = {c: float(v) for c, v in rows if v is not None}
    outlines = dict(_projected(str(bpath), bpath.stat().st_mtime))
    inset = outlines.pop("__inset__", None)
    if not outlines:
        return None
    present = sorted(v for c, v in values.items() if c in outlines)
    breaks = [present[min(len(present) - 1, int(len(present) * k / 5))] for k in range(1, 5)] if present else []

    def klass(v: float) -> int:
        return sum(1 for b in breaks if v > b)

    def fmt(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:,.2f}"

    shapes = []
    for code, (name, d) in sorted(outlines.items()):
        v = values.get(code)
        shapes.append({"code": code, "d": d, "label": name, "fill": PALETTE[klass(v)] if v is not None else NO_DATA,
                       "value_text": fmt(v) if v is not None else "—"})
    legend = []
    if present:
        edges = [present[0], *breaks, present[-1]]
        legend = [{"fill": PALETTE[i], "label": f"{fmt(edges[i])} – {fmt(edges[i + 1])}"} for i in range(5)
                  if i == 0 or edges[i] != edges[i + 1]]
    legend.append({"fill": NO_DATA, "label": "không có dữ liệu / no data"})
    return {"w": WIDTH, "h": HEIGHT, "shapes": shapes, "legend": legend, "inset": inset[1] if inset else None, "code_column": code_col,
            "value_column": value_col, "matched": len([c for c in values if c in outlines]), "units": len(outlines)}
