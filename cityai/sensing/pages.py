"""The city operations dashboard (``/sensing``) and the ward map it draws on.

- ``GET /sensing`` — the operations page: a map of the sensors over HCMC's ward boundaries coloured by
  status, the selected sensor's latest values, a 24-hour chart of its main attribute with the forecast and its
  interval, the open alerts (agency staff), counts per status and a type filter. The page is server-rendered;
  ``/sensing/dashboard.js`` fetches the JSON API (``/api/v1/sensing/dashboard``, ``.../entities/{id}/series``,
  ``POST .../forecast``, ``POST .../alerts/{id}/acknowledge``) every ``refresh`` seconds (10 by default, 2-300
  with ``?refresh=``), pauses while the tab is hidden and builds everything with DOM nodes (no inline script:
  the CSP allows only scripts from this origin).
- ``GET /sensing/dashboard.js`` and ``/sensing/dashboard.css`` — the page's assets; the page links them with
  their content hash (``?v=``) so that a changed file is fetched at once and an unchanged one is cached.
- ``GET /api/v1/sensing/map`` — the ward boundaries for the map: polygons simplified (Douglas-Peucker, about
  a seventh of a map unit, some 20 m; ~140 KB for the 168 units) and already projected to the map's SVG
  coordinates (``width`` x ``height``), with the projection (``frames``) that places a sensor's lon/lat on
  it. Islands far out at sea (Côn Đảo) get an inset frame of their own. The boundaries are the published reference dataset's
  (``cityai data import-admin-units``), else ``hcmc_wards.geojson`` of the shared data folder; with neither,
  ``available`` is false and the map is a plain frame over the city's extent, which still places sensors.
  Cached per source file; ``ETag`` and a one-hour ``Cache-Control``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cityai.web.assets import ModuleAssets
from cityai.web.deps import CtxDep
from cityai.web.templating import render

router = APIRouter()
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = ModuleAssets(STATIC, ('dashboard.js', 'dashboard.css'))
REFRESH_S = 10
HORIZONS = (15, 30, 60, 180)
STATUS_LABELS = {
    "ok": ("Bình thường", "Normal"),
    "alert": ("Có cảnh báo", "Alert"),
    "silent": ("Mất tín hiệu", "Silent"),
}

# ------------------------------------------------------------------ static assets


def asset_version(name: str) -> str:
    return ASSETS.version(name)


def _serve_asset(request: Request, name: str) -> Response:
    return ASSETS.response(request, name)


@router.get("/sensing/dashboard.js", include_in_schema=False)
def dashboard_js(request: Request) -> Response:
    return _serve_asset(request, "dashboard.js")


@router.get("/sensing/dashboard.css", include_in_schema=False)
def dashboard_css(request: Request) -> Response:
    return _serve_asset(request, "dashboard.css")


# ------------------------------------------------------------------ the page


def _texts() -> dict[str, Any]:
    """The script's words in the page's language."""
    from cityai.web.i18n import pick

    words = {
        "updated": ("Cập nhật lúc", "Updated at"),
        "updating": ("Đang cập nhật…", "Updating…"),
        "paused": ("Tạm dừng khi thẻ bị ẩn", "Paused while the tab is hidden"),
        "network": ("Không kết nối được với máy chủ; sẽ thử lại.", "Could not reach the server; retrying."),
        "error": ("Đã xảy ra lỗi", "Something went wrong"),
        "all_types": ("Tất cả các loại", "All types"),
        "no_sensors": ("Chưa có cảm biến nào.", "No sensors yet."),
        "no_position": ("không có tọa độ", "no position"),
        "select_hint": ("Chọn một cảm biến trên bản đồ hoặc trong bảng để xem số liệu và dự báo.",
                        "Select a sensor on the map or in the table to see its values and forecast."),
        "not_listed": ("Cảm biến đã chọn không có trong danh sách hiện tại.",
                       "The selected sensor is not in the current list."),
        "latest": ("Giá trị mới nhất", "Latest values"),
        "attribute": ("Chỉ số", "Measure"),
        "value": ("Giá trị", "Value"),
        "observed": ("Thời điểm đo", "Observed"),
        "last_seen": ("Tín hiệu cuối", "Last seen"),
        "never": ("chưa có", "never"),
        "device": ("Thiết bị", "Device"),
        "open_alerts": ("cảnh báo đang mở", "open alerts"),
        "chart_title": ("{h} giờ qua và dự báo", "Last {h} hours and forecast"),
        "measured": ("Số đo", "Measured"),
        "forecast": ("Dự báo", "Forecast"),
        "interval": ("Khoảng dự báo", "Prediction interval"),
        "now": ("hiện tại", "now"),
        "no_series": ("Chưa có số liệu để vẽ biểu đồ.", "No values to chart yet."),
        "forecasting": ("Đang tính dự báo…", "Computing the forecast…"),
        "method": ("Phương pháp", "Method"),
        "mae": ("sai số kiểm định (MAE)", "backtest error (MAE)"),
        "minutes": ("phút", "min"),
        "congestion": ("Khả năng ùn tắc", "Chance of congestion"),
        "congestion_hint": ("xác suất tốc độ dưới", "probability that the speed falls below"),
        "in_min": ("sau", "in"),
        "chart_summary": ("{attr}: {n} số đo trong {h} giờ, từ {min} đến {max}; mới nhất {last}.",
                          "{attr}: {n} values over {h} hours, from {min} to {max}; latest {last}."),
        "forecast_summary": ("Dự báo {h} phút tới ({method}): {value}, khoảng {level}% "
                             "từ {lower} đến {upper}.",
                             "Forecast for the next {h} minutes ({method}): {value}, {level}% interval "
                             "{lower} to {upper}."),
        "forecast_table": ("Bảng số liệu dự báo", "Forecast figures"),
        "time": ("Thời điểm", "Time"),
        "lower": ("Cận dưới", "Lower"),
        "upper": ("Cận trên", "Upper"),
        "acknowledge": ("Xác nhận đã tiếp nhận", "Acknowledge"),
        "acknowledged": ("Đã tiếp nhận", "Acknowledged"),
        "open": ("Đang mở", "Open"),
        "no_alerts": ("Không có cảnh báo nào đang mở.", "No open alerts."),
        "alerts_staff_only": ("Cảnh báo chỉ hiển thị cho cán bộ các cơ quan đã đăng nhập.",
                              "Alerts are shown to signed-in agency staff only."),
        "since": ("từ", "since"),
        "times": ("lần", "times"),
        "show_sensor": ("Xem cảm biến", "Show the sensor"),
        "ack_done": ("Đã xác nhận cảnh báo.", "Alert acknowledged."),
        "became": ("chuyển sang trạng thái", "is now"),
        "new_alerts": ("cảnh báo mới", "new alerts"),
        "sensors": ("cảm biến", "sensors"),
        "ward": ("Phường, xã", "Ward"),
    }
    out: dict[str, Any] = {k: pick(v) for k, v in words.items()}
    out["status"] = {k: pick(v) for k, v in STATUS_LABELS.items()}
    out["severity"] = {"info": pick(("Thông tin", "Info")), "warning": pick(("Cảnh báo", "Warning")),
                       "critical": pick(("Nghiêm trọng", "Critical"))}
    return out


@router.get("/sensing", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, refresh: Annotated[int, Query(ge=2, le=300)] = REFRESH_S) -> Response:
    return render(request, "sensing/dashboard.html", {
        "texts": _texts(), "refresh": refresh, "horizons": HORIZONS, "statuses": STATUS_LABELS,
        "v_js": asset_version("dashboard.js"), "v_css": asset_version("dashboard.css")})


# ------------------------------------------------------------------ the ward map

MAP_WIDTH = 1000.0
PAD = 12.0
TOLERANCE = 0.15  # map units (the city's width is 1000): some 20 m on the ground
FAR_DEG = 1.0  # a unit whose centre is this far from the median centre goes to the inset (Côn Đảo)
INSET = 150.0  # the inset frame's side, in map units
# The city's main extent (lon, lat) when no boundaries were imported: sensors are placed on a plain frame.
CITY_BBOX = (106.35, 10.35, 107.2, 11.2)


def _polygons(geom: Any) -> list:
    if not isinstance(geom, dict):
        return []
    if geom.get("type") == "Polygon":
        return [geom.get("coordinates") or []]
    if geom.get("type") == "MultiPolygon":
        return list(geom.get("coordinates") or [])
    return []


def _read_published(path: Path) -> list[tuple[str, str, str, list]]:
    import duckdb

    from cityai.data import reference

    con = duckdb.connect()
    try:
        cols = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
        name_en = "name_en" if "name_en" in cols else "name"
        full = "full_name" if "full_name" in cols else "name"
        kind = "type" if "type" in cols else "NULL"
        rows = con.execute(f"SELECT code, {full}, {name_en}, {kind}, geometry FROM read_parquet(?) "
                           "WHERE geometry IS NOT NULL", [str(path)]).fetchall()
    finally:
        con.close()
    out = []
    for code, name, en, unit_type, geometry in rows:
        try:
            geom = json.loads(geometry) if isinstance(geometry, str) else geometry
        except ValueError:
            continue
        kind_en = reference.UNIT_TYPES.get(unit_type or "", ("", ""))[1]
        en = f"{en} {kind_en}" if en and kind_en else en
        out.append((str(code).zfill(5), name or "", en or name or "", _polygons(geom)))
    return out


def _read_geojson(path: Path) -> list[tuple[str, str, str, list]]:
    with open(path, encoding="utf-8-sig") as fh:
        doc = json.load(fh)
    out = []
    for f in doc.get("features") or []:
        p = f.get("properties") or {}
        code = str(p.get("code") or f.get("id") or "")
        name = p.get("fullName") or p.get("full_name") or p.get("name") or code
        en = p.get("fullNameEn") or p.get("nameEn") or p.get("name_en") or name
        out.append((code.zfill(5) if code.isdigit() else code, name, en, _polygons(f.get("geometry"))))
    return out


def _simplify(points: list[tuple[float, float]], tol: float) -> list[tuple[float, float]]:
    """Douglas-Peucker on a closed ring (first == last point kept), iterative."""
    n = len(points)
    if n <= 4:
        return points
    keep = [False] * n
    keep[0] = keep[-1] = True
    # a closed ring: split at the point farthest from the first so that the chord is not zero-length
    x0, y0 = points[0]
    far = max(range(1, n - 1), key=lambda i: (points[i][0] - x0) ** 2 + (points[i][1] - y0) ** 2)
    keep[far] = True
    stack = [(0, far), (far, n - 1)]
    tol2 = tol * tol
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        ax, ay = points[a]
        bx, by = points[b]
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy
        best, best_d = -1, tol2
        for i in range(a + 1, b):
            px, py = points[i]
            if seg == 0:
                d = (px - ax) ** 2 + (py - ay) ** 2
            else:
                cross = (px - ax) * dy - (py - ay) * dx
                d = cross * cross / seg
            if d > best_d:
                best, best_d = i, d
        if best >= 0:
            keep[best] = True
            stack.append((a, best))
            stack.append((best, b))
    return [p for p, k in zip(points, keep) if k]


def _num(tenths: int) -> str:
    """A coordinate in tenths of a unit, written short: 12 -> "1.2", -5 -> "-.5", 30 -> "3"."""
    sign = "-" if tenths < 0 else ""
    whole, frac = divmod(abs(tenths), 10)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole if whole else ''}.{frac}"


def _path(rings: list[list[tuple[float, float]]]) -> str:
    """Rings as a compact SVG path: absolute moveto, relative lineto in tenths of a unit."""
    parts = []
    for ring in rings:
        q = []
        for x, y in ring:
            t = (round(x * 10), round(y * 10))
            if not q or t != q[-1]:
                q.append(t)
        if len(q) > 1 and q[0] == q[-1]:
            q.pop()
        if len(q) < 3:
            continue
        out = [f"M{_num(q[0][0])} {_num(q[0][1])}l"]
        prev = q[0]
        first = True
        for t in q[1:]:
            dx, dy = _num(t[0] - prev[0]), _num(t[1] - prev[1])
            sep = "" if first or dx.startswith("-") else " "
            out.append(f"{sep}{dx}{'' if dy.startswith('-') else ' '}{dy}")
            prev, first = t, False
        parts.append("".join(out) + "z")
    return "".join(parts)


def _centre(polys: list) -> tuple[float, float]:
    pts = [p for poly in polys for ring in poly[:1] for p in ring]
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)) if pts else (0.0, 0.0)


def _bbox(shapes: list) -> tuple[float, float, float, float]:
    xs = [p[0] for s in shapes for poly in s[3] for ring in poly for p in ring]
    ys = [p[1] for s in shapes for poly in s[3] for ring in poly for p in ring]
    return min(xs), min(ys), max(xs), max(ys)


def _frame(bbox: tuple[float, float, float, float], left: float, top: float, width: float,
           height: float | None) -> dict[str, Any]:
    """An equirectangular projection of ``bbox`` into the box (height from the aspect when None)."""
    lon0, lat0, lon1, lat1 = bbox
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    span_x = max((lon1 - lon0) * kx, 1e-6)
    span_y = max(lat1 - lat0, 1e-6)
    s = width / span_x if height is None else min(width / span_x, height / span_y)
    h = span_y * s
    return {"bbox": [round(v, 5) for v in bbox], "x0": round(left, 3), "y0": round(top + h, 3),
            "sx": round(kx * s, 4), "sy": round(s, 4), "box": [round(left, 1), round(top, 1),
                                                             round(span_x * s, 1), round(h, 1)]}


def _project(frame: dict[str, Any], lon: float, lat: float) -> tuple[float, float]:
    return (frame["x0"] + (lon - frame["bbox"][0]) * frame["sx"],
            frame["y0"] - (lat - frame["bbox"][1]) * frame["sy"])


def build_map(shapes: list[tuple[str, str, str, list]], tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Projected, simplified ward outlines and the frames that place lon/lat on them."""
    shapes = [s for s in shapes if any(len(r) >= 3 for poly in s[3] for r in poly)]
    if not shapes:
        return plain_map()
    centres = {s[0]: _centre(s[3]) for s in shapes}
    mid_x = sorted(c[0] for c in centres.values())[len(centres) // 2]
    mid_y = sorted(c[1] for c in centres.values())[len(centres) // 2]
    far = {code for code, (x, y) in centres.items() if abs(x - mid_x) > FAR_DEG or abs(y - mid_y) > FAR_DEG}
    if len(far) == len(shapes):
        far = set()
    main = [s for s in shapes if s[0] not in far]
    frame = _frame(_bbox(main), PAD, PAD, MAP_WIDTH - 2 * PAD, None)
    frame["name"] = "main"
    height = frame["box"][3] + 2 * PAD
    frames = [frame]
    out_frame = {s[0]: frame for s in main}
    if far:
        inset = _frame(_bbox([s for s in shapes if s[0] in far]), PAD + 8, height - PAD - INSET + 8,
                       INSET - 16, INSET - 16)
        inset["name"] = "inset"
        frames.append(inset)
        out_frame.update({s[0]: inset for s in shapes if s[0] in far})
    wards = []
    for code, name, name_en, polys in sorted(shapes):
        f = out_frame[code]
        rings = []
        for poly in polys:
            for ring in poly:
                pts = [_project(f, float(p[0]), float(p[1])) for p in ring if len(p) >= 2]
                if len(pts) >= 3:
                    if pts[0] != pts[-1]:
                        pts.append(pts[0])
                    rings.append(_simplify(pts, tolerance))
        d = _path(rings)
        if d:
            wards.append({"code": code, "name": name, "name_en": name_en, "d": d})
    return {"available": True, "width": MAP_WIDTH, "height": round(height, 1), "frames": frames,
            "wards": wards}


def plain_map() -> dict[str, Any]:
    """No boundaries: a frame over the city's main extent, so that sensors still have their place."""
    frame = _frame(CITY_BBOX, PAD, PAD, MAP_WIDTH - 2 * PAD, None)
    frame["name"] = "main"
    return {"available": False, "width": MAP_WIDTH, "height": round(frame["box"][3] + 2 * PAD, 1),
            "frames": [frame], "wards": []}


@functools.lru_cache(maxsize=4)
def _cached(kind: str, path_str: str, mtime: float) -> tuple[bytes, str]:
    path = Path(path_str)
    shapes = _read_published(path) if kind == "published" else _read_geojson(path)
    body = build_map(shapes)
    body["source"] = kind if body["available"] else None
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return data, hashlib.sha256(data).hexdigest()[:20]


def map_source(ctx: Any) -> tuple[str, Path] | None:
    """Where the boundaries come from: the published reference dataset, else the shared GeoJSON, else None."""
    from cityai.data import reference, wardmap

    path = wardmap.boundaries_path(ctx)
    if path is not None:
        return "published", path
    folder = reference.default_admin_units_dir()
    raw = folder / reference.WARDS_GEOJSON if folder else None
    if raw is not None and raw.is_file():
        return "shared", raw
    return None


@router.get("/api/v1/sensing/map", tags=["sensing"])
def ward_map(request: Request, ctx: CtxDep) -> Response:
    """HCMC's ward boundaries for the operations map, simplified and projected to SVG coordinates:
    ``{"available", "source", "width", "height", "frames": [{"name", "bbox": [lon0, lat0, lon1, lat1], "x0",
    "y0", "sx", "sy", "box"}], "wards": [{"code", "name", "name_en", "d"}]}``. A point goes to
    ``x = x0 + (lon - lon0) * sx``, ``y = y0 - (lat - lat0) * sy`` of the first frame whose bbox holds it
    (else the ``main`` frame). Without boundaries ``available`` is false and ``wards`` empty."""
    src = map_source(ctx)
    if src is None:
        data = json.dumps({**plain_map(), "source": None}, separators=(",", ":")).encode()
        etag = hashlib.sha256(data).hexdigest()[:20]
    else:
        try:
            data, etag = _cached(src[0], str(src[1]), src[1].stat().st_mtime)
        except (OSError, ValueError, TypeError, KeyError):
            data = json.dumps({**plain_map(), "source": None}, separators=(",", ":")).encode()
            etag = hashlib.sha256(data).hexdigest()[:20]
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match", "").strip() in (f'"{etag}"', f'W/"{etag}"'):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/json", headers=headers)


__all__ = ["router", "build_map", "map_source", "plain_map"]
